"""The operators' job calls of PgJobStore beyond redrive, cancel and purge: the listings (each
filter its own statement, listing.py) and "retry now" (operator_sql.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from broker.entities.job import Event, Job
from broker.entities.job_view import JobFilter
from broker.infra.pg import listing, operator_sql, queries, rows
from broker.infra.pg.conn import Connections, guarded


class OperatorCalls:
    """PgJobStore's list_jobs, count_jobs and retry_now (a mixin: it borrows the store's
    connections and its planned transactions)."""

    _conn: Connections
    _planned: Callable  # PgJobStore._planned: a transaction planned for the call's values

    @guarded
    async def list_jobs(self, where: JobFilter, limit: int, after: tuple[datetime, str] | None,
                        now: datetime) -> list[Job]:
        statement, args = listing.list_jobs(where, limit, after, now)
        async with self._planned() as conn:
            found = await conn.fetch(statement, *args)
        return [rows.job(r) for r in found]

    @guarded
    async def count_jobs(self, where: JobFilter, cap: int, now: datetime) -> int:
        statement, args = listing.count_jobs(where, cap, now)
        async with self._planned() as conn:
            return await conn.fetchval(statement, *args)

    @guarded
    async def retry_now(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(operator_sql.RETRY_NOW, job_id, now)
            row = await conn.fetchrow(queries.GET, job_id)
        return (rows.job(row) if row else None), rows.events(found, now)
