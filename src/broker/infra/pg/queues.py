"""Queue controls in PostgreSQL (the QueueStore port). The claim reads the same table (sql.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg

from broker.entities.queue_state import ControlsChange, QueueControls, QueueEvent
from broker.infra.pg.conn import Connections, guarded
from broker.infra.pg.listen import CHANNEL

_COLUMNS = "name, paused, concurrency_limit, updated_at, per_key_concurrency, rate_limit, rate_burst"
GET = f"SELECT {_COLUMNS} FROM broker_queues WHERE name = $1"
LIST = f"SELECT {_COLUMNS} FROM broker_queues ORDER BY name"
# The row is created with the defaults first, so that the change is read and made under its lock.
ENSURE = """INSERT INTO broker_queues (name, created_at, updated_at) VALUES ($1, $2, $2)
ON CONFLICT (name) DO NOTHING"""
LOCK = f"SELECT {_COLUMNS} FROM broker_queues WHERE name = $1 FOR UPDATE"
# A new or changed rate limit starts with a full bucket; none, no bucket.
SET = """UPDATE broker_queues SET paused = $2, concurrency_limit = $3, updated_at = $4::timestamptz,
    per_key_concurrency = $5, rate_limit = $6::float8, rate_burst = $7::int,
    rate_tokens = CASE WHEN $8::bool THEN $7::int ELSE rate_tokens END,
    rate_refilled_at = CASE WHEN $8 THEN CASE WHEN $6 IS NOT NULL THEN $4 END ELSE rate_refilled_at END
WHERE name = $1"""
LOG = """INSERT INTO broker_queue_events (queue, at, paused_before, paused, concurrency_limit_before,
    concurrency_limit, per_key_concurrency_before, per_key_concurrency, rate_limit_before, rate_limit,
    rate_burst_before, rate_burst) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"""
# Delivered at commit: long polls of every replica claim again (listen.py).
WAKE = f"SELECT pg_notify('{CHANNEL}', $1)"


def _controls(row) -> QueueControls:
    return QueueControls(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def _logged(before: QueueControls, after: QueueControls) -> list:
    """Each control's value before and after, in LOG's column order."""
    names = ("paused", "concurrency_limit", "per_key_concurrency", "rate_limit", "rate_burst")
    return [getattr(c, n) for n in names for c in (before, after)]


class PgQueueStore:
    """QueueStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0,
                 on_change: Callable[[], None] | None = None) -> None:
        """`on_change` hears of each committed change (the job store's claim re-reads which
        queues it must count)."""
        self._conn = Connections(pool, acquire_timeout)
        self._on_change = on_change

    @guarded
    async def get(self, name: str) -> QueueControls:
        async with self._conn() as conn:
            row = await conn.fetchrow(GET, name)
        return _controls(row) if row else QueueControls(name)

    @guarded
    async def list_queues(self) -> list[QueueControls]:
        async with self._conn() as conn:
            return [_controls(r) for r in await conn.fetch(LIST)]

    @guarded
    async def update(self, name: str, change: ControlsChange,
                     now: datetime) -> tuple[QueueControls, QueueEvent | None]:
        async with self._conn() as conn, conn.transaction():
            await conn.execute(ENSURE, name, now)
            before = _controls(await conn.fetchrow(LOCK, name))
            after = change.apply(before, now)
            if after == before:
                return before, None
            rate = (before.rate_limit, before.rate_burst) != (after.rate_limit, after.rate_burst)
            await conn.execute(SET, name, after.paused, after.concurrency_limit, now,
                               after.per_key_concurrency, after.rate_limit, after.rate_burst, rate)
            await conn.execute(LOG, name, now, *_logged(before, after))
            event = QueueEvent(name, before, after, now)
            if event.opens:
                await conn.execute(WAKE, name)
        if self._on_change is not None:
            self._on_change()
        return after, event
