"""Extra in-process brokers with settings of their own (auth on, tiny pools, TLS...), each on a
fresh database of its own: the session broker's clock is moved by other tests, and its reaper
would expire leases of brokers on the real clock sharing its database."""

from __future__ import annotations

import contextlib
import random

import asyncpg

from broker import app
from broker.infra.clock import SystemClock
from broker.infra.pg.migrate import migrate
from tests.conftest import broker_settings
from tests.support import create_database, drop_database, with_database


@contextlib.asynccontextmanager
async def fresh_database(database_url: str):
    """A migrated database on the test server, dropped afterwards; yields its URL."""
    admin = with_database(database_url, "postgres")
    name, url = await create_database(admin)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    try:
        yield url
    finally:
        await drop_database(admin, name)


@contextlib.asynccontextmanager
async def running_broker(database_url: str, clock=None, **env):
    """A broker started with the test defaults plus `env` (BROKER_* names); stopped after."""
    broker = await app.start(broker_settings(database_url, **env), clock=clock or SystemClock(),
                             rng=random.Random(7))
    try:
        yield broker
    finally:
        await broker.stop(grace=1)


@contextlib.asynccontextmanager
async def key_admin(database_url: str):
    async with app.key_admin(broker_settings(database_url)) as keys:
        yield keys
