"""Rows of broker_queue_retry (a queue's run-time default retry policy) as entities."""

from __future__ import annotations

from broker.entities.queue_retry import RetryDefaults
from broker.entities.retry import Jitter

COLUMNS = "queue, max_attempts, initial_delay, max_delay, multiplier, jitter, updated_at"
ALL = f"SELECT {COLUMNS} FROM broker_queue_retry"


def defaults(row) -> RetryDefaults:
    return RetryDefaults(row[1], row[2], row[3], row[4], Jitter(row[5]) if row[5] else None, row[6])


async def read_all(conn) -> dict[str, RetryDefaults]:
    return {r[0]: defaults(r) for r in await conn.fetch(ALL)}
