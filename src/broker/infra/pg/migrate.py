"""Numbered SQL migrations, applied once each, in order, under an advisory lock."""

from __future__ import annotations

import importlib.resources
import logging

import asyncpg

log = logging.getLogger("broker.migrate")
_LOCK = 0x62726F6B  # any constant shared by every replica

_TABLE = """CREATE TABLE IF NOT EXISTS broker_schema_migrations (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""


def migrations() -> list[tuple[int, str, str]]:
    folder = importlib.resources.files("broker.infra.pg") / "migrations"
    found = []
    for item in folder.iterdir():
        if item.name.endswith(".sql"):
            found.append((int(item.name.split("_", 1)[0]), item.name, item.read_text()))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations this database lacks; returns their names. Safe to run concurrently."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await conn.execute(_TABLE)
        done = {r[0] for r in await conn.fetch("SELECT version FROM broker_schema_migrations")}
        for version, name, text in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(text)
                await conn.execute("INSERT INTO broker_schema_migrations (version, name) VALUES ($1, $2)",
                                   version, name)
            log.info("applied migration %s", name)
            applied_now.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    return applied_now
