"""PgJobStore's retention calls (a mixin: it borrows the store's connections): prune finished
jobs in batches, rotate the event log's time partitions (partitions.py), and vacuum the hot
tables when their dead row versions pass a share of the live ones."""

from __future__ import annotations

from datetime import datetime

from broker.infra.pg import partitions, queries
from broker.infra.pg.conn import Connections, guarded

# Vacuum a table when its dead row versions reach this many plus this share of its live rows:
# autovacuum's own thresholds (50 + 20 %), which the server may not even apply (autovacuum
# off, or one look per autovacuum_naptime), let a table churned at this rate grow for minutes.
VACUUM_DEAD, VACUUM_SHARE = 1000, 0.05
VACUUMED = ("broker_jobs", "broker_events_kept")

_DEAD = """
SELECT relname FROM pg_stat_user_tables
WHERE relname = ANY($1::text[]) AND n_dead_tup >= $2 + $3 * n_live_tup
ORDER BY relname
"""


class RetentionCalls:
    """prune, rotate_history and compact of the JobStore port."""

    _conn: Connections

    @guarded
    async def prune(self, finished_before: datetime, limit: int) -> int:
        async with self._conn() as conn:
            return await conn.fetchval(queries.PRUNE, finished_before, limit)

    @guarded
    async def rotate_history(self, now: datetime, drop_before: datetime, width: float) -> int:
        async with self._conn() as conn:
            return await partitions.rotate(conn, now, drop_before, width)

    @guarded
    async def compact(self) -> list[str]:
        async with self._conn() as conn:
            due = [r[0] for r in await conn.fetch(_DEAD, list(VACUUMED), VACUUM_DEAD, VACUUM_SHARE)]
            if not due:
                return []
            # VACUUM runs outside a transaction, so the pool's statement timeout is lifted for
            # the session and put back; SKIP_LOCKED: another replica's vacuum already runs;
            # TRUNCATE false: giving the empty pages at the end back would take an ACCESS
            # EXCLUSIVE lock, stopping every statement on the table (the next jobs reuse them).
            await conn.execute("SET statement_timeout = 0")
            try:
                for table in due:
                    await conn.execute(f"VACUUM (SKIP_LOCKED, TRUNCATE false) {table}")
            finally:
                await conn.execute("RESET statement_timeout")
        return due
