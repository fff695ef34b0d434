"""GetJob reads the job and its history as of one moment: a change committed while it reads
shows in both or in neither (never a RUNNING job whose history already says "expire")."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import asyncpg

from broker.entities.job import JobState, Reason
from broker.entities.retry import RetryPolicy
from broker.infra.pg.store import PgJobStore
from broker.usecases.get_job import GetJob
from broker.usecases.nack import decider
from broker.usecases.ports import NewJob

T0 = datetime(2100, 1, 1, tzinfo=timezone.utc)


class ChangeAfterFirstStatement:
    """A pool whose borrowers, right after their first statement, see `change` commit from
    elsewhere: the worst moment for a read made of several statements."""

    def __init__(self, pool: asyncpg.Pool, change) -> None:
        self._pool, self._change = pool, change

    async def acquire(self, timeout=None):
        return _Connection(await self._pool.acquire(timeout=timeout), self)

    async def release(self, conn) -> None:
        await self._pool.release(conn.inner)

    def get_max_size(self) -> int:
        return self._pool.get_max_size()

    def is_closing(self) -> bool:
        return self._pool.is_closing()

    async def after_statement(self) -> None:
        change, self._change = self._change, None
        if change is not None:
            await change()


class _Connection:
    def __init__(self, inner, pool: ChangeAfterFirstStatement) -> None:
        self.inner, self._pool = inner, pool

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def fetch(self, *args, **kwargs):
        found = await self.inner.fetch(*args, **kwargs)
        await self._pool.after_statement()
        return found

    async def fetchrow(self, *args, **kwargs):
        found = await self.inner.fetchrow(*args, **kwargs)
        await self._pool.after_statement()
        return found


async def test_a_lease_expiring_while_get_job_reads_shows_in_both_or_neither(own_database, queue):
    pool = await asyncpg.create_pool(own_database, min_size=1, max_size=4)
    try:
        store = PgJobStore(pool)
        job = NewJob(queue=queue, kind="k", payload=b"{}", headers={}, idempotency_key=None, priority=0,
                     run_at=T0, max_attempts=3, retry=RetryPolicy(), lease_duration=30.0)
        [inserted], _ = await store.enqueue([job], T0)
        [running], _ = await store.claim([queue], "w1", 1, None, T0)
        later = T0 + timedelta(seconds=60)

        async def the_reaper_runs():
            assert await store.rescue_expired(later, 10, decider(later, random.Random(1)))

        got, history = await GetJob(PgJobStore(ChangeAfterFirstStatement(pool, the_reaper_runs)))(
            inserted.job_id)

        assert got.state is history[-1].to_state, (got.state, [e.reason for e in history])
        assert (got.state, [e.reason for e in history]) in (
            (JobState.RUNNING, [Reason.ENQUEUE, Reason.LEASE]),
            (JobState.PENDING, [Reason.ENQUEUE, Reason.LEASE, Reason.EXPIRE]))
        # Afterwards both show the expiry.
        got, history = await GetJob(store)(inserted.job_id)
        assert got.state is JobState.PENDING and history[-1].reason is Reason.EXPIRE
        assert running.id == got.id
    finally:
        await pool.close()
