"""Where the bench runs: fresh databases on the configured PostgreSQL, the machine, the
versions of everything measured, and PostgreSQL's settings (written into the results)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
import urllib.parse
import uuid

import asyncpg

# Loopback only: the bench never sends traffic anywhere else.
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
PG_SETTINGS = ("server_version", "shared_buffers", "synchronous_commit", "fsync", "wal_level",
               "max_connections", "work_mem", "effective_io_concurrency", "checkpoint_timeout",
               "max_wal_size", "autovacuum", "jit")
PACKAGES = ("broker", "broker-client", "grpcio", "protobuf", "asyncpg", "pgqueuer", "procrastinate",
            "psycopg", "celery", "kombu", "redis", "psutil", "py-spy")


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@contextlib.asynccontextmanager
async def fresh_database(label: str, keep: bool = False):
    """A new, empty database on the configured server for one scenario; dropped afterwards."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        if not keep:
            admin = await asyncpg.connect(ADMIN_URL)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def backend_pids(conn: asyncpg.Connection, database: str) -> list[int]:
    """PostgreSQL backends serving one database (other than the asking connection)."""
    rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                            database)
    return [r[0] for r in rows]


def database_name(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


async def postgres_settings() -> dict:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        rows = await conn.fetch("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                                list(PG_SETTINGS))
        version = await conn.fetchval("SELECT version()")
    finally:
        await conn.close()
    settings = {r["name"]: r["setting"] + (f" {r['unit']}" if r["unit"] else "") for r in rows}
    settings["version"] = version
    return settings


def versions() -> dict:
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5)
        found["redis-server"] = out.stdout.split("v=")[1].split()[0] if "v=" in out.stdout else None
    except (OSError, subprocess.SubprocessError):
        found["redis-server"] = None
    return found


def machine() -> dict:
    info = {"platform": platform.platform(), "cpus": os.cpu_count(), "machine": platform.machine()}
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as f:
            info["memory_kb"] = int(f.readline().split()[1])
    info["loadavg_at_start"] = os.getloadavg()
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")
