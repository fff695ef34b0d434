"""The queues' run-time default retry policies in PostgreSQL (the RetryStore port), read by
Enqueue through a cache of about a second: a policy set on one replica is used by every replica's
Enqueue within about that long."""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg

from broker.entities.queue_retry import RetryDefaults
from broker.entities.retry import Jitter
from broker.infra.pg.conn import Connections, guarded
from broker.usecases.queues.retry_ports import RetryStep

TTL = 1.0
_COLUMNS = "queue, max_attempts, initial_delay, max_delay, multiplier, jitter, updated_at"
ALL = f"SELECT {_COLUMNS} FROM broker_queue_retry"
LOCK = f"SELECT {_COLUMNS} FROM broker_queue_retry WHERE queue = $1 FOR UPDATE"
ENSURE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('broker_queue_retry:' || $1))"  # a row not there yet
PUT = f"""INSERT INTO broker_queue_retry ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (queue) DO UPDATE SET (max_attempts, initial_delay, max_delay, multiplier, jitter, updated_at) =
    (EXCLUDED.max_attempts, EXCLUDED.initial_delay, EXCLUDED.max_delay, EXCLUDED.multiplier, EXCLUDED.jitter,
     EXCLUDED.updated_at)"""
DELETE = "DELETE FROM broker_queue_retry WHERE queue = $1"


def _defaults(row) -> RetryDefaults:
    return RetryDefaults(row[1], row[2], row[3], row[4], Jitter(row[5]) if row[5] else None, row[6])


class PgRetryStore:
    """RetryStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0, ttl: float = TTL) -> None:
        self._conn, self._ttl = Connections(pool, acquire_timeout), ttl
        self._all: dict[str, RetryDefaults] = {}
        self._until = 0.0

    async def all(self) -> dict[str, RetryDefaults]:
        if time.monotonic() < self._until:  # no connection borrowed: Enqueue asks at every call
            return self._all
        return await self._read()

    @guarded
    async def _read(self) -> dict[str, RetryDefaults]:
        async with self._conn() as conn:
            self._all = {r[0]: _defaults(r) for r in await conn.fetch(ALL)}
        self._until = time.monotonic() + self._ttl
        return self._all

    async def get(self, queue: str) -> RetryDefaults | None:
        return (await self._read()).get(queue)

    @guarded
    async def change(self, queue: str, step: RetryStep, now: datetime) -> RetryDefaults | None:
        async with self._conn() as conn, conn.transaction():
            await conn.execute(ENSURE_LOCK, queue)
            row = await conn.fetchrow(LOCK, queue)
            before = _defaults(row) if row else None
            after = step(before)
            if after is None and before is not None:
                await conn.execute(DELETE, queue)
            elif after is not None and after != before:
                await conn.execute(PUT, queue, after.max_attempts, after.initial_delay, after.max_delay,
                                   after.multiplier, after.jitter and after.jitter.value, after.updated_at)
        self._until = 0.0
        return after
