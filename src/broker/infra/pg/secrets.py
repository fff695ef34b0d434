"""Secrets every replica shares, kept in the database (migration 0005), read once at start-up."""

from __future__ import annotations

import asyncpg

READ = "SELECT secret FROM broker_secrets WHERE name = $1"


class MissingSecret(RuntimeError):
    """The database lacks a secret the broker needs: its migrations have not all been applied."""


async def read_secret(pool: asyncpg.Pool, name: str) -> bytes:
    try:
        async with pool.acquire() as conn:
            secret = await conn.fetchval(READ, name)
    except asyncpg.UndefinedTableError:
        secret = None
    if secret is None:
        raise MissingSecret(f"the database has no {name!r} secret (table broker_secrets): apply the "
                            f"broker's migrations (`broker migrate`, or start with BROKER_MIGRATE=true)")
    return bytes(secret)
