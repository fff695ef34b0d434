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


class BrokerProcess:
    def __init__(self, process: subprocess.Popen, grpc_port: int, http_port: int) -> None:
        self.process = process
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
def spawn_broker(database_url: str, grpc_port: int | None = None, env: dict | None = None, stderr=None, **_):
    """`broker serve` as a subprocess on free ports; stopped with SIGTERM on exit. `stderr`: a
    file to receive its log lines (default: the test's own stderr)."""
    grpc_port = grpc_port or free_port()
    http_port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "BROKER_LOG_LEVEL": "WARNING",
                   "BROKER_REAPER_INTERVAL": "0.2", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", f"127.0.0.1:{grpc_port}",
         "--http-addr", f"127.0.0.1:{http_port}"], env=environment, stderr=stderr)
    broker = BrokerProcess(process, grpc_port, http_port)
    try:
        broker.wait_healthy()
        yield broker
    finally:
        broker.stop()
