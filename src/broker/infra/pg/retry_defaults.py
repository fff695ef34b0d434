"""The queues' run-time default retry policies in PostgreSQL (the RetryStore port), read by
Enqueue through a cache of about a second: a policy set on one replica is used by every replica's
Enqueue within about that long. Each change also rewrites the queue's row of the defaults that
broker_enqueue (SQL) reads (enqueue_settings.queue_row), in the same transaction."""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg

from broker.entities.queue import QueueConfig
from broker.entities.queue_retry import RetryDefaults
from broker.infra.pg.conn import Connections, guarded
from broker.infra.pg.enqueue_settings import queue_row
from broker.infra.pg.retry_rows import COLUMNS, defaults as _defaults, read_all
from broker.usecases.queues.retry_ports import RetryStep

TTL = 1.0
_COLUMNS = COLUMNS
LOCK = f"SELECT {_COLUMNS} FROM broker_queue_retry WHERE queue = $1 FOR UPDATE"
ENSURE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('broker_queue_retry:' || $1))"  # a row not there yet
PUT = f"""INSERT INTO broker_queue_retry ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (queue) DO UPDATE SET (max_attempts, initial_delay, max_delay, multiplier, jitter, updated_at) =
    (EXCLUDED.max_attempts, EXCLUDED.initial_delay, EXCLUDED.max_delay, EXCLUDED.multiplier, EXCLUDED.jitter,
     EXCLUDED.updated_at)"""
DELETE = "DELETE FROM broker_queue_retry WHERE queue = $1"


class PgRetryStore:
    """RetryStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0, ttl: float = TTL,
                 queues: QueueConfig | None = None) -> None:
        self._conn, self._ttl, self._queues = Connections(pool, acquire_timeout), ttl, queues
        self._all: dict[str, RetryDefaults] = {}
        self._until = 0.0

    async def all(self) -> dict[str, RetryDefaults]:
        if time.monotonic() < self._until:  # no connection borrowed: Enqueue asks at every call
            return self._all
        return await self._read()

    @guarded
    async def _read(self) -> dict[str, RetryDefaults]:
        async with self._conn() as conn:
            self._all = await read_all(conn)
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
            if self._queues is not None and after != before:
                await queue_row(conn, queue, self._queues, after)
        self._until = 0.0
        return after
