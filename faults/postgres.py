"""A private PostgreSQL for the fault scenarios: Debian's server binaries in a temporary data
directory, on a free loopback port. The harness stops and starts it (the database outage), so
it never touches the machine's shared server."""

from __future__ import annotations

import glob
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
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
    """initdb, start, stop (fast), start again on the same port, and remove everything."""

    def __init__(self) -> None:
        self.bindir = bindir()
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="broker-faults-pg-"))
        self.pgdata = self.root / "data"
        self.port = free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # initdb refuses to run as root: run the server as the postgres user then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}"
                               f"\n{self.log_tail()}")

    def init(self) -> None:
        self.pgdata.mkdir()
        if self._as:
            os.chmod(self.root, 0o755)
            shutil.chown(self.pgdata, "postgres", "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        """Start (again) on the same port and socket directory, so brokers reconnect to it."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.pgdata} -c max_connections=200 "
                   f"-c shared_buffers=64MB")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "30",
                  "-l", str(self.pgdata / "server.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "30", "-m", mode, "stop")

    def running(self) -> bool:
        return subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "status"],
                              capture_output=True).returncode == 0

    def destroy(self) -> None:
        """Stop the server (immediately) if it runs and remove its files; safe to call twice."""
        if self.pgdata.exists() and self.running():
            subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m",
                            "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 20) -> str:
        try:
            return "".join((self.pgdata / "server.log").read_text(errors="replace").splitlines(True)[-n:])
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
