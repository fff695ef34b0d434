"""What broker_enqueue (migrations/0008_enqueue_function.sql) needs of the broker's settings: the
queue defaults and the enqueue limits, written by every broker at start-up so that a job enqueued
in SQL gets what the Enqueue RPC would give it. The last replica to start wins: replicas are meant
to share these settings (an RPC would otherwise get different defaults on each replica too).
A queue's run-time retry policy (broker_queue_retry, set by UpdateQueue) is written over the
settings' defaults of its queue, at start-up and at each change (queue_row)."""

from __future__ import annotations

import asyncpg

from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.entities.queue_retry import RetryDefaults
from broker.infra.pg.retry_rows import read_all

_LOCK = 0x62726F6C  # publishers take turns: each replaces every row at once

_LIMITS = """UPDATE broker_enqueue_limits SET max_queue_name_length = $1, max_payload_bytes = $2,
    max_headers_bytes = $3, max_kind_length = $4, max_key_length = $5, min_lease = $6, max_lease = $7,
    max_attempts = $8"""
_DEFAULTS = "INSERT INTO broker_queue_defaults VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
EVERY_QUEUE = "*"


def _row(queue: str, d: QueueDefaults) -> tuple:
    r = d.retry
    return (queue, d.max_attempts, r.initial_delay, r.max_delay, r.multiplier, r.jitter.value,
            d.lease_duration, d.max_lease_expiries)


async def publish(pool: asyncpg.Pool, queues: QueueConfig, limits: Limits) -> None:
    """Replace the database's copy with these settings, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        await conn.execute(_LIMITS, limits.max_queue_name_length, limits.max_payload_bytes,
                           limits.max_headers_bytes, limits.max_kind_length, limits.max_key_length,
                           limits.min_lease, limits.max_lease, limits.max_attempts)
        await conn.execute("DELETE FROM broker_queue_defaults")
        runtime = await read_all(conn)
        rows = [_row(EVERY_QUEUE, queues.default)] + [
            _row(q, _effective(q, queues, runtime.get(q))) for q in sorted(set(queues.overrides) | set(runtime))]
        await conn.executemany(_DEFAULTS, rows)


async def queue_row(conn, queue: str, queues: QueueConfig, runtime: RetryDefaults | None) -> None:
    """The queue's row after its run-time retry policy changed (in the caller's transaction):
    the settings' defaults under it, or no row of its own when neither sets anything."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
    await conn.execute("DELETE FROM broker_queue_defaults WHERE queue = $1", queue)
    if runtime is not None or queue in queues.overrides:
        await conn.execute(_DEFAULTS, *_row(queue, _effective(queue, queues, runtime)))


def _effective(queue: str, queues: QueueConfig, runtime: RetryDefaults | None) -> QueueDefaults:
    base = queues.for_queue(queue)
    return runtime.over(base) if runtime is not None else base
