"""The asyncpg pool, sized and bounded by settings."""

from __future__ import annotations

import asyncpg

from broker.infra.settings import DatabaseSettings


async def create_pool(url: str, settings: DatabaseSettings) -> asyncpg.Pool:
    server_settings = {"application_name": "broker"}
    if settings.statement_timeout:
        server_settings["statement_timeout"] = str(int(settings.statement_timeout * 1000))
    return await asyncpg.create_pool(
        url, min_size=min(settings.pool_min, settings.pool_max), max_size=settings.pool_max,
        server_settings=server_settings, timeout=settings.acquire_timeout,
        # Recycle connections that sat idle a long time, and re-establish after outages.
        max_inactive_connection_lifetime=300.0,
        reset=_reset,
    )


async def _reset(conn: asyncpg.Connection) -> None:
    """Pooled connections never change session state (LISTEN has a connection of its own), so
    the default reset (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL: a round trip on every
    release) is skipped; only a transaction left open is rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
