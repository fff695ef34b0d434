"""The workers every replica saw and the latency counts every replica made, in PostgreSQL
(migrations 0016 and 0017): the ObservationStore port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from broker.entities.latency import LatencyCount
from broker.entities.workers import HeldLease, SeenWorker
from broker.infra.pg.conn import Connections, guarded
from broker.usecases.workers.ports import SeenRow

# One statement for both: each replica's own worker rows (so no two replicas write one row), and
# its counts added to everyone's. Both inputs are unique by key and sorted, so two replicas adding
# to the same counts lock the rows in the same order (no deadlock).
FLUSH = """
WITH seen AS (
    INSERT INTO broker_workers (worker_id, queue, replica, last_seen, waiting)
    SELECT w, q, $1, s, p FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::bool[]) AS t(w, q, s, p)
    ON CONFLICT (worker_id, queue, replica) DO UPDATE
    SET last_seen = EXCLUDED.last_seen, waiting = EXCLUDED.waiting
), counted AS (
    INSERT INTO broker_latency (queue, minute, kind, le, count)
    SELECT * FROM unnest($6::text[], $7::timestamptz[], $8::text[], $9::float8[], $10::bigint[])
    ON CONFLICT (minute, queue, kind, le) DO UPDATE SET count = broker_latency.count + EXCLUDED.count
)
SELECT 1
"""

SEEN = """
SELECT worker_id, array_agg(DISTINCT queue ORDER BY queue), max(last_seen), bool_or(waiting AND last_seen >= $2)
FROM broker_workers WHERE last_seen >= $1
GROUP BY worker_id ORDER BY worker_id
"""

HELD = """
SELECT worker_id, id::text, queue, kind, lease_expires_at FROM (
    SELECT worker_id, id, queue, kind, lease_expires_at,
        row_number() OVER (PARTITION BY worker_id ORDER BY lease_expires_at, id) AS n
    FROM broker_jobs WHERE state = 'running') r
WHERE n <= $1 ORDER BY worker_id, n
"""

LATENCY = """
SELECT queue, minute, kind, le, count FROM broker_latency
WHERE minute >= $2 AND (cardinality($1::text[]) = 0 OR queue = ANY($1::text[]))
"""

PRUNE = """
WITH workers AS (
    DELETE FROM broker_workers WHERE last_seen < $1 RETURNING 1
), counts AS (
    DELETE FROM broker_latency WHERE minute < $2 RETURNING 1
)
SELECT (SELECT count(*) FROM workers) + (SELECT count(*) FROM counts)
"""


class PgObservationStore:
    """ObservationStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._conn = Connections(pool, acquire_timeout)

    @guarded
    async def flush(self, replica: str, seen: Sequence[SeenRow], counts: Sequence[LatencyCount]) -> None:
        seen = sorted(seen, key=lambda r: (r.worker_id, r.queue))
        counts = sorted(counts, key=lambda c: (c.minute, c.queue, c.kind, c.le))
        async with self._conn() as conn:
            await conn.execute(FLUSH, replica, [r.worker_id for r in seen], [r.queue for r in seen],
                               [r.last_seen for r in seen], [r.waiting for r in seen],
                               [c.queue for c in counts], [c.minute for c in counts], [c.kind for c in counts],
                               [c.le for c in counts], [c.count for c in counts])

    @guarded
    async def seen_workers(self, since: datetime, waiting_since: datetime) -> list[SeenWorker]:
        async with self._conn() as conn:
            found = await conn.fetch(SEEN, since, waiting_since)
        return [SeenWorker(r[0], tuple(r[1]), r[2], bool(r[3])) for r in found]

    @guarded
    async def held_leases(self, per_worker: int) -> list[HeldLease]:
        async with self._conn() as conn:
            found = await conn.fetch(HELD, per_worker)
        return [HeldLease(*r) for r in found]

    @guarded
    async def latency(self, queues: Sequence[str], since: datetime) -> list[LatencyCount]:
        async with self._conn() as conn:
            found = await conn.fetch(LATENCY, list(queues), since)
        return [LatencyCount(*r) for r in found]

    @guarded
    async def prune(self, seen_before: datetime, counts_before: datetime) -> int:
        async with self._conn() as conn:
            return await conn.fetchval(PRUNE, seen_before, counts_before)
