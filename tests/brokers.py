"""Extra in-process brokers with settings of their own (auth on, tiny pools, TLS...), each on a
fresh database of its own: the session broker's clock is moved by other tests, and its reaper
would expire leases of brokers on the real clock sharing its database."""

from __future__ import annotations

import contextlib
import random

from broker import app
from broker.infra.clock import SystemClock
from tests.conftest import broker_settings, migrated_database
from tests.support import with_database


def fresh_database(database_url: str):
    """A migrated database on the session database's server, dropped afterwards; yields its URL.
    (For module-scoped fixtures; a test alone can take the `own_database` fixture.)"""
    return migrated_database(with_database(database_url, "postgres"))


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
