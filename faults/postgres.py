"""A private PostgreSQL for the fault scenarios: Debian's server binaries in a temporary data
directory, on a free loopback port. The harness stops and starts it (the database outage), so
it never touches the machine's shared server."""

from __future__ import annotations

import glob
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import asyncpg


class NoPostgres(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl) on this machine."""


def bindir() -> pathlib.Path:
    """Where initdb and pg_ctl are; NoPostgres when nowhere."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return pathlib.Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return pathlib.Path(on_path).parent
    raise NoPostgres("the fault scenarios need PostgreSQL's server binaries (initdb, pg_ctl), e.g. "
                     "Debian's postgresql package")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """initdb, start, stop (fast), start again on the same port, and remove everything.

    The server runs as a child of the harness (not daemonized by pg_ctl), with SIGKILL as its
    parent-death signal where util-linux's setpriv exists: it dies with the harness even when
    the harness is killed. `spawn` must be called from the thread that lives as long as the
    server (the event loop's); `wait_ready` may block elsewhere."""

    def __init__(self) -> None:
        self.bindir = bindir()
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="broker-faults-pg-"))
        self.pgdata = self.root / "data"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        root = os.geteuid() == 0  # initdb refuses root: run everything as the postgres user then
        self._as = ["runuser", "-u", "postgres", "--"] if root else []
        if shutil.which("setpriv"):
            self._server_as = ["setpriv", *(["--reuid", "postgres", "--regid", "postgres", "--init-groups"]
                                            if root else []), "--pdeathsig", "KILL", "--"]
        else:
            self._server_as = self._as
        self._server: subprocess.Popen | None = None

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}"
                               f"\n{self.log_tail()}")

    def init(self) -> None:
        """initdb (blocks for a few seconds)."""
        self.pgdata.mkdir()
        if self._as:
            os.chmod(self.root, 0o755)
            shutil.chown(self.pgdata, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")

    def spawn(self) -> None:
        """Start the server (again) on the same port and socket directory, so brokers reconnect."""
        log = open(self.root / "server.log", "ab")
        try:
            self._server = subprocess.Popen(
                [*self._server_as, str(self.bindir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                 "-k", str(self.pgdata), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                 "-c", "shared_buffers=64MB"], stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections (its postmaster.pid says `ready`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self._server.returncode}:\n{self.log_tail()}")
            try:
                lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL not ready within {timeout:g} s:\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode>` and wait for the server to exit."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "30", "-m", mode, "stop")
        self._server.wait(30)

    def running(self) -> bool:
        return self._server is not None and self._server.poll() is None

    def destroy(self) -> None:
        """Stop the server (immediately) if it runs and remove its files; safe to call twice."""
        if self.running():
            self._server.send_signal(signal.SIGQUIT)  # immediate shutdown
            try:
                self._server.wait(15)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "".join((self.root / "server.log").read_text(errors="replace").splitlines(True)[-n:])
        except OSError:
            return ""

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, label: str) -> str:
        """A new database for one scenario; returns its URL."""
        name = f"faults_{label}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)
