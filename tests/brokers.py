"""Extra in-process brokers with settings of their own (auth on, tiny pools, TLS...), on the
session's test database, and channels to them."""

from __future__ import annotations

import contextlib
import random

from broker import app
from broker.infra.clock import ShiftedClock
from tests.conftest import test_settings as _settings


@contextlib.asynccontextmanager
async def running_broker(database_url: str, clock=None, observe_rpc=None, **env):
    """A broker started with the session defaults plus `env` (BROKER_* names); stopped after."""
    extra = {"observe_rpc": observe_rpc} if observe_rpc else {}
    broker = await app.start(_settings(database_url, **env), clock=clock or ShiftedClock(),
                             rng=random.Random(7), **extra)
    try:
        yield broker
    finally:
        await broker.stop(grace=1)


@contextlib.asynccontextmanager
async def key_admin(database_url: str):
    async with app.key_admin(_settings(database_url)) as keys:
        yield keys
