"""JobStore.enqueue: new jobs, their events, and idempotency per (queue, key)."""

from __future__ import annotations

import asyncio

import asyncpg

from broker.entities.job import JobState, Reason
from broker.entities.job_view import JobFilter
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.pg import sql
from broker.infra.pg.store import _columns
from broker.usecases.ports import Inserted
from tests.contract.helpers import add, new_job, postgres_only, seconds, trail


async def test_enqueue_stores_pending_jobs_with_every_field(store, queue, t0):
    policy = RetryPolicy(initial_delay=0.5, max_delay=90.0, multiplier=1.5, jitter=Jitter.EQUAL)
    specs = [
        new_job(queue, seconds(t0, 60), kind="report", payload=b"\x00\xffbytes", headers={"trace": "abc"},
                idempotency_key="k-1", priority=-5, max_attempts=7, retry=policy, lease_duration=12.5),
        new_job(queue, t0, payload=b""),
    ]
    inserted, _ = await store.enqueue(specs, t0)

    assert [i.created for i in inserted] == [True, True]
    assert len({i.job_id for i in inserted}) == 2
    first = await store.get(inserted[0].job_id)
    assert (first.id, first.queue, first.kind, first.payload, first.headers, first.idempotency_key,
            first.priority, first.state, first.run_at, first.attempt, first.max_attempts, first.retry,
            first.lease_duration) == (
        inserted[0].job_id, queue, "report", b"\x00\xffbytes", {"trace": "abc"}, "k-1",
        -5, JobState.PENDING, seconds(t0, 60), 0, 7, policy, 12.5)
    assert (first.lease_token, first.lease_expires_at, first.worker_id, first.errors) == (None, None, None, ())
    assert (first.created_at, first.updated_at, first.finished_at) == (t0, t0, None)
    second = await store.get(inserted[1].job_id)
    assert (second.payload, second.headers, second.idempotency_key, second.run_at) == (b"", {}, None, t0)


async def test_enqueue_returns_one_event_per_created_job(store, queue, t0):
    inserted, events = await store.enqueue(
        [new_job(queue, seconds(t0, 5), kind="a"), new_job(queue, t0, kind="b")], t0)

    ids = [i.job_id for i in inserted]
    assert trail(events) == [(ids[0], None, JobState.PENDING, Reason.ENQUEUE, 0, None, None, t0),
                             (ids[1], None, JobState.PENDING, Reason.ENQUEUE, 0, None, None, t0)]
    assert [(e.queue, e.kind) for e in events] == [(queue, "a"), (queue, "b")]
    assert trail(await store.history(ids[0])) == trail(events[:1])


async def test_a_key_the_queue_holds_returns_the_existing_job(store, queue, t0):
    (first,), _ = await store.enqueue([new_job(queue, t0, idempotency_key="order-7", payload=b"one")], t0)

    again, events = await store.enqueue(
        [new_job(queue, t0, idempotency_key="order-7", payload=b"two")], seconds(t0, 1))

    assert again == [Inserted(first.job_id, False)]
    assert events == []
    job = await store.get(first.job_id)
    assert (job.payload, job.updated_at) == (b"one", t0)
    assert len(await store.history(first.job_id)) == 1
    assert len(await store.list_jobs(JobFilter(queue=queue), 10, None, t0)) == 1


async def test_the_same_key_in_another_queue_is_another_job(store, queue, t0):
    (a,), _ = await store.enqueue([new_job(queue, t0, idempotency_key="k")], t0)
    (b,), _ = await store.enqueue([new_job(queue + "-other", t0, idempotency_key="k")], t0)

    assert a.created and b.created and a.job_id != b.job_id


async def test_duplicate_keys_in_one_batch_create_one_job_each(store, queue, t0):
    inserted, events = await store.enqueue([
        new_job(queue, t0, idempotency_key="k1", payload=b"first"),
        new_job(queue, t0, idempotency_key="k1", payload=b"second"),
        new_job(queue, t0),
        new_job(queue, t0),
        new_job(queue, t0, idempotency_key="k2"),
        new_job(queue, t0, idempotency_key="k1", payload=b"third"),
    ], t0)

    assert [i.created for i in inserted] == [True, False, True, True, True, False]
    assert inserted[1].job_id == inserted[5].job_id == inserted[0].job_id
    assert len({inserted[i].job_id for i in (0, 2, 3, 4)}) == 4
    assert [e.job_id for e in events] == [inserted[i].job_id for i in (0, 2, 3, 4)]
    assert (await store.get(inserted[0].job_id)).payload == b"first"
    assert len(await store.list_jobs(JobFilter(queue=queue), 10, None, t0)) == 4


async def test_concurrent_enqueues_of_one_key_create_exactly_one_job(store, queue, t0):
    async def one(n: int):
        return await store.enqueue([new_job(queue, t0, idempotency_key="race", payload=b"%d" % n)], t0)

    outcomes = await asyncio.gather(*(one(n) for n in range(24)))

    inserted = [i for result, _ in outcomes for i in result]
    assert sum(i.created for i in inserted) == 1
    assert len({i.job_id for i in inserted}) == 1
    assert sum(len(events) for _, events in outcomes) == 1
    assert len(await store.list_jobs(JobFilter(queue=queue), 100, None, t0)) == 1
    assert len(await store.history(inserted[0].job_id)) == 1


async def test_a_purged_job_frees_its_key(store, queue, t0):
    (first,) = await add(store, queue, t0, idempotency_key="k")
    await store.cancel(first, t0)
    assert await store.purge([first], None, JobState.CANCELLED) == 1

    (again,), events = await store.enqueue([new_job(queue, t0, idempotency_key="k")], seconds(t0, 1))

    assert again.created and again.job_id != first
    assert len(events) == 1


async def _blocked(probe: asyncpg.Connection, count: int) -> None:
    """Until `count` sessions of this database wait on a lock (fails after about 5 s)."""
    for _ in range(1000):
        # The probe sits in an open transaction, which would keep one snapshot of the activity.
        await probe.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await probe.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND cardinality(pg_blocking_pids(pid)) > 0")
        if waiting >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} sessions never blocked")


@postgres_only
async def test_racing_batches_with_shared_keys_in_another_order_both_succeed(store, queue, t0, database_url):
    other = await asyncpg.connect(database_url)
    try:
        # A third producer holds key "b" in an open transaction, so the first batch stops at it.
        transaction = other.transaction()
        await transaction.start()
        await other.fetch(sql.ENQUEUE, *_columns([new_job(queue, t0, idempotency_key="b")], t0), t0, [None], None)
        first = asyncio.create_task(store.enqueue([new_job(queue, t0, idempotency_key=k) for k in "abc"], t0))
        await _blocked(other, 1)
        second = asyncio.create_task(store.enqueue([new_job(queue, t0, idempotency_key=k) for k in "ca"], t0))
        await _blocked(other, 2)
        await transaction.commit()

        (a, b, c), _ = await first
        (c2, a2), _ = await second
    finally:
        await other.close()

    assert (a2.job_id, c2.job_id) == (a.job_id, c.job_id)
    assert sum(i.created for i in (a, b, c, c2, a2)) == 2
    assert not b.created
