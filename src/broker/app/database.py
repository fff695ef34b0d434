"""The broker's database for every command: the configured URL, or the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
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


async def database_url(settings: Settings, keep_running: bool = False) -> tuple[str, embedded.EmbeddedPostgres | None]:
    """DATABASE_URL, or the embedded server's (started now; `keep_running`: left running at exit)."""
    if settings.database.url:
        return settings.database.url, None
    db = await asyncio.to_thread(embedded.start, settings.database.data_dir, keep_running)
    return db.url, db


async def open_database(settings: Settings, size: int | None = None, keep_running: bool = False) -> Database:
    """A pool (`size`: fixed at that many connections), migrated first when BROKER_MIGRATE allows."""
    url, db = await database_url(settings, keep_running)
    pool = await create_pool(url, settings.database, size=size)
    try:
        if settings.database.migrate:
            async with pool.acquire() as conn:
                await migrate(conn)
    except BaseException:
        await pool.close()
        raise
    return Database(url, pool, db)


async def run_migrations(settings: Settings) -> list[str]:
    """`broker migrate`: apply what is missing on one connection; the names applied."""
    url, _ = await database_url(settings, keep_running=True)
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
