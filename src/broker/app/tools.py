"""The operators' one-off commands on the broker's database: `broker migrate` and `broker keys`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from broker.app import build as graph
from broker.app.database import Announce, close_database, open_database, run_migrations
from broker.infra.clock import SystemClock
from broker.infra.pg.keys import PgKeyStore
from broker.infra.settings import Settings

__all__ = ["key_admin", "run_migrations"]


@contextlib.asynccontextmanager
async def key_admin(settings: Settings, clock=None, announce: Announce | None = None
                    ) -> AsyncIterator[graph.KeyAdmin]:
    """`broker keys ...`: a small pool on the broker's database (migrated first when allowed);
    an embedded server it had to start is stopped again."""
    db = await open_database(settings, size=1, announce=announce)
    try:
        keys = PgKeyStore(db.pool, settings.database.acquire_timeout)
        yield graph.key_admin(keys, clock or SystemClock())
    finally:
        await close_database(db)
