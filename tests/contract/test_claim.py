"""JobStore.claim: which ready jobs a worker gets, in what order, and that nobody gets one twice."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import asyncpg

from broker.entities.job import JobState, Reason
from broker.entities.lease import FailureDecision
from broker.infra.pg.store import PgJobStore
from tests.contract.helpers import add, new_job, seconds, trail


async def test_claim_orders_by_priority_then_run_at_then_id(store, queue, t0):
    specs = [
        new_job(queue, seconds(t0, -10), priority=5, kind="late-priority"),
        new_job(queue, seconds(t0, -1), priority=-3, kind="urgent"),
        new_job(queue, seconds(t0, -20), priority=0, kind="old"),
        new_job(queue, seconds(t0, -5), priority=0, kind="tie"),
        new_job(queue, seconds(t0, -5), priority=0, kind="tie"),
        new_job(queue, seconds(t0, -30), priority=0, kind="oldest"),
    ]
    inserted, _ = await store.enqueue(specs, seconds(t0, -60))
    ties = sorted(inserted[i].job_id for i in (3, 4))

    jobs, _ = await store.claim([queue], "w1", 10, None, t0)

    assert [j.kind for j in jobs] == ["urgent", "oldest", "old", "tie", "tie", "late-priority"]
    assert [j.id for j in jobs[3:5]] == ties


async def test_claim_respects_the_limit_and_never_hands_out_a_job_twice(store, queue, t0):
    ids = await add(store, queue, t0, count=5)

    batches = [await store.claim([queue], "w1", 2, None, t0) for _ in range(4)]

    sizes = [len(jobs) for jobs, _ in batches]
    assert sizes == [2, 2, 1, 0]
    claimed = [j.id for jobs, _ in batches for j in jobs]
    assert sorted(claimed) == sorted(ids)
    assert sum(len(events) for _, events in batches) == 5


async def test_claim_takes_only_ready_pending_jobs_of_the_asked_queues(store, queue, t0):
    other = queue + "-b"
    (now_a,) = await add(store, queue, t0)
    (later_a,) = await add(store, queue, t0, run_at=seconds(t0, 30))
    (now_b,) = await add(store, other, t0)
    (elsewhere,) = await add(store, queue + "-c", t0)

    first, _ = await store.claim([queue], "w1", 10, None, t0)
    assert [j.id for j in first] == [now_a]
    assert (await store.claim([queue], "w1", 10, None, seconds(t0, 29)))[0] == []

    both, _ = await store.claim([queue, other], "w1", 10, None, seconds(t0, 30))

    assert sorted(j.id for j in both) == sorted([later_a, now_b])
    assert (await store.get(elsewhere)).state is JobState.PENDING


async def test_claim_starts_an_attempt_with_a_fresh_token_and_deadline(store, queue, t0):
    (a,) = await add(store, queue, t0, lease_duration=45.0)
    (b,) = await add(store, queue, seconds(t0, 1), lease_duration=45.0)
    now = seconds(t0, 3)

    (first,), events = await store.claim([queue], "worker-a", 1, None, now)
    (second,), _ = await store.claim([queue], "worker-b", 1, 10.0, now)

    assert (first.id, first.state, first.attempt, first.worker_id) == (a, JobState.RUNNING, 1, "worker-a")
    assert first.lease_expires_at == seconds(now, 45)
    assert (first.created_at, first.updated_at, first.finished_at) == (None, None, None)  # left out
    assert (second.id, second.lease_expires_at, second.lease_duration) == (b, seconds(now, 10), 45.0)
    tokens = {first.lease_token, second.lease_token}
    assert len(tokens) == 2 and all(uuid.UUID(t) for t in tokens)
    stored = await store.get(a)
    assert replace(stored, created_at=None, updated_at=None) == first
    assert stored.updated_at == now
    assert trail(events) == [(a, JobState.PENDING, JobState.RUNNING, Reason.LEASE, 1, "worker-a", None, now)]
    assert trail(await store.history(a))[1:] == trail(events)


async def test_a_released_job_gets_a_new_token_and_the_next_attempt(store, queue, t0):
    await add(store, queue, t0)
    (job,), _ = await store.claim([queue], "w1", 1, None, t0)
    await store.rescue_expired(seconds(t0, 31), 10, lambda j, f: FailureDecision(JobState.PENDING, seconds(t0, 31)))

    (again,), _ = await store.claim([queue], "w2", 1, None, seconds(t0, 31))

    assert again.id == job.id
    assert again.attempt == 2 and again.lease_token != job.lease_token and again.worker_id == "w2"


async def test_concurrent_claimers_take_each_job_exactly_once(store, queue, t0, request):
    total, claimers = 2000, 8
    ids = set()
    for _ in range(total // 1000):
        ids.update(await add(store, queue, t0, count=1000))
    pool = None
    if isinstance(store, PgJobStore):
        # A pool of its own so the eight claimers really run in eight sessions at once.
        pool = await asyncpg.create_pool(request.getfixturevalue("database_url"), min_size=claimers,
                                         max_size=claimers)
        store = PgJobStore(pool)

    async def claimer(n: int) -> list[str]:
        got = []
        while True:
            jobs, _ = await store.claim([queue], f"w{n}", 25, None, t0)
            if not jobs:
                return got
            got.extend(j.id for j in jobs)

    try:
        results = await asyncio.gather(*(claimer(n) for n in range(claimers)))
    finally:
        if pool is not None:
            await pool.close()

    claimed = [job_id for got in results for job_id in got]
    assert len(claimed) == total
    assert set(claimed) == ids
    if pool is not None:
        assert sum(1 for got in results if got) > 1  # the work was in fact shared
