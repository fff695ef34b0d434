"""The broker's database for every command: the configured URL, or the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from broker.infra import embedded
from broker.infra.pg.migrate import migrate
from broker.infra.pg.pool import create_pool
from broker.infra.settings import Settings


@dataclass
class Database:
    """A pool on the broker's database, and the embedded server behind it when there is one."""

    url: str
    pool: asyncpg.Pool
    embedded: embedded.EmbeddedPostgres | None = None


Announce = Callable[[str], None]  # tells a person which database a one-off command uses


async def database_url(settings: Settings, announce: Announce | None = None
                       ) -> tuple[str, embedded.EmbeddedPostgres | None]:
    """DATABASE_URL, or the embedded server's: shared when it runs already (a broker serving),
    else started now and stopped by whoever holds the returned server (stop())."""
    if settings.database.url:
        if announce is not None:
            announce(f"using DATABASE_URL ({_where(settings.database.url)})")
        return settings.database.url, None
    db = await asyncio.to_thread(embedded.start, settings.database.data_dir)
    if announce is not None:
        announce(f"using {db.describe()}; set DATABASE_URL for another database")
    return db.url, db


async def open_database(settings: Settings, size: int | None = None, announce: Announce | None = None) -> Database:
    """A pool (`size`: fixed at that many connections), migrated first when BROKER_MIGRATE allows."""
    url, db = await database_url(settings, announce)
    try:
        pool = await create_pool(url, settings.database, size=size)
    except BaseException:
        _stop(db)
        raise
    try:
        if settings.database.migrate:
            async with pool.acquire() as conn:
                await migrate(conn)
    except BaseException:
        await pool.close()
        _stop(db)
        raise
    return Database(url, pool, db)


def _where(url: str) -> str:
    """host:port/database of a URL, never its password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or urllib.parse.parse_qs(parts.query).get("host", ["local socket"])[0]
    return f"{host}{f':{parts.port}' if parts.port else ''}/{parts.path.lstrip('/') or '(default database)'}"


def _stop(db: embedded.EmbeddedPostgres | None) -> None:
    if db is not None:
        db.stop()


async def close_database(db: Database) -> None:
    """The pool, then the embedded server when this process started it."""
    await db.pool.close()
    _stop(db.embedded)


async def run_migrations(settings: Settings, announce: Announce | None = None) -> list[str]:
    """`broker migrate`: apply what is missing on one connection; the names applied."""
    url, db = await database_url(settings, announce)
    try:
        conn = await asyncpg.connect(url)
        try:
            return await migrate(conn)
        finally:
            await conn.close()
    finally:
        _stop(db)
