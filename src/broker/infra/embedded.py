"""An embedded PostgreSQL for `broker serve` without DATABASE_URL, and for tests on machines
without a server: pgserver (a PostgreSQL in a wheel, the `embedded` extra) when installed, else
the PostgreSQL binaries of the system (Debian's /usr/lib/postgresql/*/bin). Unix socket only.

One data directory (BROKER_DATA_DIR; by default one per user, whatever the current directory)
holds one server that every command shares: a command that finds it running uses it and leaves
it running; one that had to start it stops it when done (pgserver counts the processes holding
it and stops with the last). `broker embedded status|stop|reset` look after it."""

from __future__ import annotations

import glob
import json
import logging
import os
import pathlib
import shutil
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass

log = logging.getLogger("broker.embedded")
LAYOUTS = ("pgserver", "pgdata")  # the server's files under the data directory, by flavour
STOP_WAIT = 15.0  # seconds `stop` waits for the server to exit


class EmbeddedUnavailable(RuntimeError):
    """Neither pgserver nor PostgreSQL binaries are installed."""


class EmbeddedInUse(RuntimeError):
    """The embedded server is running: stop what uses it first."""


class EmbeddedPostgres:
    """A running server; `url` connects to its `postgres` database. `shared`: it was already
    running (another broker or command started it), so stop() leaves it to that one."""

    def __init__(self, url: str, stop, data_dir: pathlib.Path | None = None, shared: bool = False) -> None:
        self.url, self.data_dir, self.shared = url, data_dir, shared
        self._stop = stop

    def stop(self) -> None:
        self._stop()

    def describe(self) -> str:
        """Which server a command uses, for a person."""
        how = ("already running: shared with the broker or command that started it" if self.shared
               else "started for this process: stopped when it is done")
        return f"the embedded PostgreSQL in {self.data_dir} ({how})"


@dataclass(frozen=True)
class Status:
    """What a data directory holds: whether it was initialised and which postmaster runs on it."""

    data_dir: pathlib.Path
    initialised: bool
    pid: int | None  # the running postmaster; None: not running


def _path(data_dir: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(data_dir).expanduser().resolve()


def status(data_dir: str | os.PathLike) -> Status:
    """The state of the embedded server in `data_dir` (nothing is started)."""
    path = _path(data_dir)
    layouts = [path / name for name in LAYOUTS if (path / name / "PG_VERSION").exists()]
    pids = [pid for pid in map(_postmaster, layouts) if pid is not None]
    return Status(path, bool(layouts), pids[0] if pids else None)


def _postmaster(pgdata: pathlib.Path) -> int | None:
    """The pid in postmaster.pid when that process is alive."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start(data_dir: str | os.PathLike) -> EmbeddedPostgres:
    """Start (or share) the server whose files live in `data_dir`."""
    path = _path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    # pgserver logs every command it runs, initdb's whole output included, at INFO: keep the
    # broker's start-up log to the broker's own lines (its failures still come at ERROR).
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        return _start_pgserver(path)
    except ImportError:
        pass
    return _start_system(path, shared=status(path).pid is not None)


def stop(data_dir: str | os.PathLike) -> int | None:
    """Stops the server running on `data_dir` (a fast shutdown: open sessions are ended); the
    pid it had, or None when none ran."""
    pid = status(data_dir).pid
    if pid is None:
        return None
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_WAIT
    while status(data_dir).pid is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if status(data_dir).pid is not None:
        raise EmbeddedInUse(f"the embedded PostgreSQL (pid {pid}) did not stop within {STOP_WAIT:g}s")
    return pid


def reset(data_dir: str | os.PathLike) -> pathlib.Path:
    """Deletes the embedded server's files (every job, key and schedule in it); refused while a
    server runs on them."""
    found = status(data_dir)
    if found.pid is not None:
        raise EmbeddedInUse(f"the embedded PostgreSQL in {found.data_dir} is running (pid {found.pid}): "
                            "stop the broker that uses it (or `broker embedded stop`), then reset")
    for name in LAYOUTS:
        shutil.rmtree(found.data_dir / name, ignore_errors=True)
    return found.data_dir


def _start_pgserver(path: pathlib.Path) -> EmbeddedPostgres:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        shared = bool(_live_holders(path / "pgserver"))
        # cleanup "stop": pgserver stops the server when the last process holding it lets go.
        server = pgserver.get_server(path / "pgserver", cleanup_mode="stop")
    log.info("embedded PostgreSQL (pgserver) in %s", path / "pgserver")
    return EmbeddedPostgres(server.get_uri("postgres"), server.cleanup, path, shared)


def _live_holders(pgdata: pathlib.Path) -> list[int]:
    """The processes pgserver counts as holding the server, less those that died without letting
    go (a broker killed with SIGKILL): left in the list, they would keep the server running after
    every later command. The list is rewritten with the living ones."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return []
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        spare = handles.with_suffix(".tmp")
        spare.write_text(json.dumps(alive))
        spare.replace(handles)
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True


def _binaries() -> pathlib.Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return pathlib.Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return pathlib.Path(on_path).parent
    raise EmbeddedUnavailable(
        "no PostgreSQL to embed: install the extra (pip install 'pgjobbroker[embedded]'), install "
        "PostgreSQL's server binaries, or set DATABASE_URL")


def _start_system(path: pathlib.Path, shared: bool) -> EmbeddedPostgres:
    bindir, pgdata = _binaries(), path / "pgdata"
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
        if not shared:  # a server this process found running belongs to whoever started it
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"],
                           capture_output=True)

    return EmbeddedPostgres(f"postgresql://postgres@/postgres?host={pgdata}", stop, path, shared)
