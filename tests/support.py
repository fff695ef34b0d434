"""Test helpers: the test database server, a broker subprocess, free ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import asyncpg

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def admin_url() -> tuple[str, object]:
    """TEST_DATABASE_URL, else the local server when it answers, else a throwaway embedded one."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"], None
    if await _answers(LOCAL):
        return LOCAL, None
    from broker.infra import embedded

    server = embedded.start(tempfile.mkdtemp(prefix="broker-test-pg-"))
    return server.url, server


def with_database(url: str, name: str) -> str:
    """The same server, another database (also for unix-socket URLs with ?host=)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


async def create_database(admin: str) -> tuple[str, str]:
    name = f"broker_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, with_database(admin, name)


async def drop_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The log files of the brokers spawned so far, so tests can read their job log lines.
SPAWNED_LOGS: list[str] = []


class BrokerProcess:
    def __init__(self, process: subprocess.Popen, grpc_port: int, http_port: int, log_path: str) -> None:
        self.process = process
        self.log_path = log_path
        self.grpc_port, self.http_port = grpc_port, http_port
        self.address = f"127.0.0.1:{grpc_port}"

    def wait_healthy(self, timeout: float = 20.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError("broker did not become healthy")

    def stop(self, sig: int = 15, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def spawn_broker(database_url: str, grpc_port: int | None = None, env: dict | None = None, **_):
    """`broker serve` as a subprocess on free ports; stopped with SIGTERM on exit."""
    grpc_port = grpc_port or free_port()
    http_port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "BROKER_LOG_LEVEL": "INFO",
                   "BROKER_REAPER_INTERVAL": "0.2", **(env or {})}
    log_file = tempfile.NamedTemporaryFile(prefix="broker-log-", suffix=".jsonl", delete=False)
    SPAWNED_LOGS.append(log_file.name)
    process = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", f"127.0.0.1:{grpc_port}",
         "--http-addr", f"127.0.0.1:{http_port}"], env=environment, stderr=log_file)
    log_file.close()
    broker = BrokerProcess(process, grpc_port, http_port, log_file.name)
    try:
        broker.wait_healthy()
        yield broker
    finally:
        broker.stop()


def job_log_records(path: str) -> list:
    """The `broker.jobs` lines of a spawned broker's JSON log, as objects like LogRecords."""
    import json
    import types

    records = []
    with open(path) as f:
        for line in f:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if item.get("logger") == "broker.jobs":
                records.append(types.SimpleNamespace(name="broker.jobs", **item))
    return records


class TcpProxy:
    """A loopback TCP proxy to the database that a test can cut and restore, to play an outage."""

    def __init__(self, database_url: str) -> None:
        parts = urllib.parse.urlsplit(database_url)
        query = urllib.parse.parse_qs(parts.query)
        self._unix = None
        if "host" in query and query["host"][0].startswith("/"):
            self._unix = f"{query['host'][0]}/.s.PGSQL.{parts.port or 5432}"
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._database_url = database_url
        self.port = free_port()
        self._server = None
        self._pipes: set = set()

    @property
    def url(self) -> str:
        parts = urllib.parse.urlsplit(self._database_url)
        user = parts.username or "postgres"
        return f"postgresql://{user}@127.0.0.1:{self.port}{parts.path}"

    async def start(self) -> None:
        import asyncio

        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader, writer) -> None:
        import asyncio

        try:
            if self._unix:
                up_reader, up_writer = await asyncio.open_unix_connection(self._unix)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        pipes = [asyncio.ensure_future(self._pipe(reader, up_writer)),
                 asyncio.ensure_future(self._pipe(up_reader, writer))]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        for w in (writer, up_writer):
            w.close()

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a database going away would."""
        self._server.close()
        await self._server.wait_closed()
        for pipe in list(self._pipes):
            pipe.cancel()
        self._pipes.clear()

    async def restore(self) -> None:
        await self.start()
