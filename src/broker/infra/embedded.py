"""An embedded PostgreSQL for `broker serve` without DATABASE_URL, and for tests on machines
without a server: pgserver (a PostgreSQL in a wheel, the `embedded` extra) when installed, else
the PostgreSQL binaries of the system (Debian's /usr/lib/postgresql/*/bin). Unix socket only."""

from __future__ import annotations

import glob
import logging
import os
import pathlib
import shutil
import subprocess
import warnings

log = logging.getLogger("broker.embedded")


class EmbeddedUnavailable(RuntimeError):
    """Neither pgserver nor PostgreSQL binaries are installed."""


class EmbeddedPostgres:
    """A running server; `url` connects to its `postgres` database."""

    def __init__(self, url: str, stop) -> None:
        self.url = url
        self._stop = stop

    def stop(self) -> None:
        self._stop()


def start(data_dir: str | os.PathLike, keep_running: bool = False) -> EmbeddedPostgres:
    """Start (or reuse) a server whose files live in `data_dir`."""
    path = pathlib.Path(data_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    try:
        return _start_pgserver(path / "pgserver", keep_running)
    except ImportError:
        pass
    return _start_system(path / "pgdata")


def _start_pgserver(pgdata: pathlib.Path, keep_running: bool) -> EmbeddedPostgres:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    log.info("embedded PostgreSQL (pgserver) in %s", pgdata)
    return EmbeddedPostgres(server.get_uri("postgres"), server.cleanup if not keep_running else lambda: None)


def _binaries() -> pathlib.Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return pathlib.Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return pathlib.Path(on_path).parent
    raise EmbeddedUnavailable(
        "no PostgreSQL to embed: install the extra (pip install 'broker[embedded]'), install "
        "PostgreSQL's server binaries, or set DATABASE_URL")


def _start_system(pgdata: pathlib.Path) -> EmbeddedPostgres:
    bindir = _binaries()
    as_user = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        as_user = ["runuser", "-u", "postgres", "--"]
        pgdata.mkdir(parents=True, exist_ok=True)
        shutil.chown(pgdata, "postgres", "postgres")
        os.chmod(pgdata.parent, 0o755)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres",
                        "-A", "trust", "--no-sync"], check=True, capture_output=True)
    if subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(pgdata), "status"],
                      capture_output=True).returncode != 0:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(pgdata), "-w", "-l",
                        str(pgdata / "server.log"), "-o", f"-k {pgdata} -c listen_addresses=''",
                        "start"], check=True, capture_output=True)
    log.info("embedded PostgreSQL (%s) in %s", bindir, pgdata)

    def stop() -> None:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"],
                       capture_output=True)

    return EmbeddedPostgres(f"postgresql://postgres@/postgres?host={pgdata}", stop)
