"""The event log's time partitions on a real PostgreSQL (migrations/0018_retention.sql,
infra/pg/partitions.py): the pruner makes them ahead of time, drops those past the retention
whole, and first moves the events of jobs still there (a dead job keeps its history) to the
default partition; newer partitions and their events stay. Migration 0018 on a database that
already holds events keeps every one of them readable, and new events follow them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from broker.entities.job import JobState
from broker.infra.pg import partitions
from broker.infra.pg.migrate import migrations
from broker.infra.pg.store import PgJobStore
from broker.usecases.prune import PruneFinished
from tests.conftest import migrated_database
from tests.contract.helpers import add, in_state, leased, ref
from tests.fakes import ManualClock
from tests.support import create_database, drop_database

WIDTH = 3600.0
T0 = datetime(2031, 6, 1, 10, 0, tzinfo=timezone.utc)  # on a partition boundary


@pytest.fixture
async def pool(database_server):
    async with migrated_database(database_server) as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        yield pool
        await pool.close()


def pruner(store: PgJobStore, now: datetime) -> PruneFinished:
    """A pruner with one day of retention, one-hour partitions, its clock at `now`."""
    return PruneFinished(store, ManualClock(now), retention=24 * 3600, partition=WIDTH)


async def where(pool, job_id: str) -> set[str]:
    """The partitions holding a job's events."""
    return {r[0] for r in await pool.fetch(
        "SELECT DISTINCT tableoid::regclass::text FROM broker_events WHERE job_id = $1::uuid", job_id)}


async def test_a_pass_makes_the_partitions_of_now_and_ahead_from_a_margin_after_now_on(pool):
    store = PgJobStore(pool)
    now = T0 + timedelta(minutes=30)
    await pruner(store, now).run_once()
    async with pool.acquire() as conn:
        spans = await partitions.partitions(conn)
    start = now + timedelta(seconds=partitions.MARGIN)
    assert [(s.lo, s.hi) for s in spans] == [(start, T0 + timedelta(hours=1))] + [
        (T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(1, partitions.AHEAD + 1)]
    [early] = await add(store, "q", now)
    [job_id] = await add(store, "q", T0 + timedelta(minutes=31))
    assert await where(pool, early) == {partitions.KEPT}
    assert await where(pool, job_id) == {spans[0].name}


async def test_pruning_drops_old_partitions_keeps_newer_ones_and_the_history_of_jobs_still_there(pool):
    store = PgJobStore(pool)
    await pruner(store, T0 - timedelta(hours=1)).run_once()
    done = await leased(store, "q", T0 + timedelta(minutes=5), 3)
    await store.complete([ref(j) for j in done], T0 + timedelta(minutes=6))
    dead = await in_state(store, "q", T0 + timedelta(minutes=7), JobState.DEAD)
    newer = await leased(store, "q", T0 + timedelta(hours=2, minutes=5), 1)
    await store.complete([ref(newer[0])], T0 + timedelta(hours=2, minutes=6))
    dead_history = await store.history(dead.id)

    # A day and an hour later, the first hour's partition is past the retention; the third is not.
    assert await pruner(store, T0 + timedelta(hours=25, minutes=1)).run_once() == 3
    async with pool.acquire() as conn:
        names = {s.name for s in await partitions.partitions(conn)}
    assert partitions.name_of(T0) not in names
    assert partitions.name_of(T0 + timedelta(hours=2)) in names
    assert [await store.get(j.id) for j in done] == [None] * 3
    assert await pool.fetchval("SELECT count(*) FROM broker_events WHERE job_id = ANY($1::uuid[])",
                               [j.id for j in done]) == 0
    assert await store.history(dead.id) == dead_history
    assert await where(pool, dead.id) == {partitions.KEPT}
    assert len(await store.history(newer[0].id)) == 3
    assert await where(pool, newer[0].id) == {partitions.name_of(T0 + timedelta(hours=2))}


async def test_a_pruned_jobs_events_kept_in_the_default_partition_are_deleted_with_it(pool):
    store = PgJobStore(pool)
    early = T0 - timedelta(days=30)  # before any partition: the default partition's
    (job,) = await leased(store, "q", early, 1)
    await store.complete([ref(job)], early)
    assert await where(pool, job.id) == {partitions.KEPT}
    assert await pruner(store, T0).run_once() == 1
    assert await store.history(job.id) == []


async def test_a_partition_starts_after_the_events_the_default_partition_holds_in_its_range(pool):
    store = PgJobStore(pool)
    # An event stamped ahead of the pruner's clock (another replica's clock runs fast).
    [before] = await add(store, "q", T0 + timedelta(minutes=30))
    await pruner(store, T0 + timedelta(minutes=20)).run_once()
    async with pool.acquire() as conn:
        first = (await partitions.partitions(conn))[0]
    assert T0 + timedelta(minutes=30) < first.lo < T0 + timedelta(minutes=30, seconds=1)
    assert first.hi == T0 + timedelta(hours=1)
    [after] = await add(store, "q", T0 + timedelta(minutes=31))
    assert await where(pool, before) == {partitions.KEPT}
    assert await where(pool, after) == {first.name}


async def test_a_partition_another_pass_made_since_the_look_is_not_made_again(pool):
    """Two passes (a replica's loop and a pass run by hand, or two replicas) that looked before
    either made the partition: the second finds it made under the lock and leaves it."""
    lo, hi = T0 + timedelta(hours=2), T0 + timedelta(hours=3)
    async with pool.acquire() as conn:
        made = await partitions.create(conn, lo, hi)
        again = await partitions.create(conn, lo, hi)
        spans = await partitions.partitions(conn)
    assert made == partitions.name_of(lo) and again is None
    assert [(s.lo, s.hi) for s in spans] == [(lo, hi)]


def test_the_wanted_ranges_and_what_is_missing_of_them():
    now = T0 + timedelta(minutes=10)
    want = partitions.wanted(now, WIDTH, ahead=1)
    assert want == [(T0, T0 + timedelta(hours=1)), (T0 + timedelta(hours=1), T0 + timedelta(hours=2))]
    have = [partitions.Span("a", T0 - timedelta(hours=1), T0 + timedelta(minutes=20))]
    assert partitions.missing(now, want, have) == [(T0 + timedelta(minutes=20), T0 + timedelta(hours=1)),
                                                  want[1]]
    # What lies before the margin after now stays the default partition's.
    assert partitions.missing(T0 + timedelta(hours=1) - timedelta(seconds=1), [want[0]], []) == []
    # Short partitions: still AHEAD_SECONDS ahead.
    assert partitions.wanted(T0, 10)[-1][1] >= T0 + timedelta(seconds=partitions.AHEAD_SECONDS + partitions.MARGIN)


async def test_migration_0018_keeps_the_existing_events_readable(database_server):
    name, url = await create_database(database_server)
    try:
        conn = await asyncpg.connect(url)
        try:
            for version, _, text in migrations():
                if version < 18:
                    await conn.execute(text)
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
            store = PgJobStore(pool)
            old = await leased(store, "q", T0, 2)
            await store.complete([ref(old[0])], T0)
            before = {j.id: await store.history(j.id) for j in old}
            [text] = [t for v, _, t in migrations() if v == 18]
            await conn.execute(text)

            assert {j.id: await store.history(j.id) for j in old} == before
            await store.complete([ref(old[1])], T0 + timedelta(minutes=1))
            after = await store.history(old[1].id)
            assert [e.reason for e in after] == [e.reason for e in before[old[1].id]] + [after[-1].reason]
            ids = [r[0] for r in await pool.fetch(
                "SELECT id FROM broker_events WHERE job_id = $1::uuid ORDER BY at", old[1].id)]
            assert ids == sorted(ids)
            await pruner(store, T0).run_once()  # the last event came a minute after this clock's now
            assert (await partitions.partitions(conn))[0].lo > T0 + timedelta(minutes=1)
            await pool.close()
        finally:
            await conn.close()
    finally:
        await drop_database(database_server, name)
