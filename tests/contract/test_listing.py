"""The operators' listing (list_jobs, count_jobs: filters by queue, kind, view state, search by
id or idempotency key, pages after a cursor) and "retry now" (retry_now), on both stores."""

from __future__ import annotations

import uuid

from broker.entities.job import JobState, Reason
from broker.entities.job_view import JobFilter, JobView, view_of, views_of
from broker.entities.lease import Failure
from tests.contract.helpers import add, decide, lease, plain, ref, running, seconds, trail

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
V = JobView


async def every_view(store, queue, t0, kind: str) -> dict[JobView, str]:
    """One job of `kind` in each view at t0 + 10 s, enqueued one second apart (newest: cancelled).
    The ready one comes last in lease order, so the leases of the others pass it over."""
    ids = {}
    ids[V.READY], = await add(store, queue, seconds(t0, 1), kind=kind, priority=100)
    ids[V.SCHEDULED], = await add(store, queue, seconds(t0, 2), kind=kind, run_at=seconds(t0, 999))
    retrying = await running(store, queue, seconds(t0, 3), kind=kind)
    await store.fail([(ref(retrying), Failure("again", retry_after=500.0))], seconds(t0, 3), decide(seconds(t0, 3)))
    ids[V.RETRYING] = retrying.id
    ids[V.RUNNING] = (await running(store, queue, seconds(t0, 4), kind=kind)).id
    done = await running(store, queue, seconds(t0, 5), kind=kind)
    await store.complete([ref(done)], seconds(t0, 5))
    ids[V.SUCCEEDED] = done.id
    dead = await running(store, queue, seconds(t0, 6), kind=kind)
    await store.fail([(ref(dead), Failure("fatal", permanent=True))], seconds(t0, 6), decide(seconds(t0, 6)))
    ids[V.DEAD] = dead.id
    ids[V.CANCELLED], = await add(store, queue, seconds(t0, 7), kind=kind)
    await store.cancel(ids[V.CANCELLED], seconds(t0, 7))
    return ids


async def listed(store, where: JobFilter, now, limit: int = 100, after=None) -> list[str]:
    return [j.id for j in await store.list_jobs(where, limit, after, now)]


async def test_each_view_state_lists_and_counts_exactly_its_jobs(store, queue, t0):
    ids = await every_view(store, queue, t0, "k")
    now = seconds(t0, 10)
    for view, job_id in ids.items():
        where = JobFilter(queue=queue, views=frozenset({view}))
        assert await listed(store, where, now) == [job_id], view
        assert await store.count_jobs(where, 100, now) == 1, view
        assert view_of(await store.get(job_id), now) is view
    pending = JobFilter(queue=queue, views=views_of(P))
    assert await listed(store, pending, now) == [ids[V.RETRYING], ids[V.SCHEDULED], ids[V.READY]]
    two = JobFilter(queue=queue, views=frozenset({V.READY, V.DEAD}))
    assert await listed(store, two, now) == [ids[V.DEAD], ids[V.READY]]
    # Later the scheduled job and the retry are due: ready, as Stats would count them.
    later = JobFilter(queue=queue, views=frozenset({V.READY}))
    assert set(await listed(store, later, seconds(t0, 1000))) == {ids[V.READY], ids[V.SCHEDULED], ids[V.RETRYING]}


async def test_every_state_newest_first_in_pages_after_a_cursor(store, queue, t0):
    ids = await every_view(store, queue, t0, "k")
    now = seconds(t0, 10)
    newest_first = [ids[v] for v in (V.CANCELLED, V.DEAD, V.SUCCEEDED, V.RUNNING, V.RETRYING, V.SCHEDULED, V.READY)]
    where = JobFilter(queue=queue)
    assert await listed(store, where, now) == newest_first
    pages, after = [], None
    while True:
        page = await store.list_jobs(where, 3, after, now)
        pages += [j.id for j in page]
        if len(page) < 3:
            break
        after = (page[-1].created_at, page[-1].id)
    assert pages == newest_first
    assert await store.count_jobs(where, 100, now) == 7
    assert await store.count_jobs(where, 4, now) == 4  # counted up to the cap, no further


async def test_kind_and_queue_filter_every_queue_alike(store, queue, t0):
    kind = f"kind-{queue}"  # of this test alone: the other tests' jobs share the database
    mine = await every_view(store, queue, t0, kind)
    other = await every_view(store, queue + "-b", seconds(t0, 0.5), kind)  # each job half a second later
    await add(store, queue, seconds(t0, 8), kind="another")
    now = seconds(t0, 10)

    by_kind = JobFilter(kind=kind)
    assert set(await listed(store, by_kind, now)) == {*mine.values(), *other.values()}
    assert await store.count_jobs(by_kind, 100, now) == 14
    dead = JobFilter(kind=kind, views=frozenset({V.DEAD}))
    assert await listed(store, dead, now) == [other[V.DEAD], mine[V.DEAD]]  # newest first across queues
    scheduled = JobFilter(kind=kind, views=frozenset({V.SCHEDULED, V.RETRYING}))
    assert await listed(store, scheduled, now, limit=3) == [other[V.RETRYING], mine[V.RETRYING], other[V.SCHEDULED]]
    assert await store.count_jobs(JobFilter(queue=queue, kind=kind), 100, now) == 7
    assert await listed(store, JobFilter(queue=queue, kind="nothing"), now) == []


async def test_a_search_finds_a_job_by_id_or_by_idempotency_key_in_any_queue(store, queue, t0):
    key = f"key-{queue}"
    (a,) = await add(store, queue, t0, idempotency_key=key)
    (b,) = await add(store, queue + "-b", seconds(t0, 1), idempotency_key=key)
    (c,) = await add(store, queue, seconds(t0, 2), idempotency_key="other")
    now = seconds(t0, 5)

    assert await listed(store, JobFilter(search=key), now) == [b, a]
    assert await listed(store, JobFilter(search=key, queue=queue), now) == [a]
    assert await listed(store, JobFilter(search=c), now) == [c]
    assert await listed(store, JobFilter(search=c.upper()), now) == [c]  # ids are UUIDs, any case
    assert await listed(store, JobFilter(search=c, queue=queue + "-b"), now) == []
    assert await listed(store, JobFilter(search=key, views=frozenset({V.DEAD})), now) == []
    assert await listed(store, JobFilter(search=str(uuid.uuid4())), now) == []
    assert await store.count_jobs(JobFilter(search=key), 100, now) == 2


async def test_retry_now_makes_a_scheduled_job_ready_at_once(store, queue, t0):
    (job_id,) = await add(store, queue, t0, run_at=seconds(t0, 600))
    now = seconds(t0, 10)

    job, events = await store.retry_now(job_id, now)

    assert trail(events) == [(job_id, P, P, Reason.RETRY_NOW, 0, None, None, now)]
    assert plain(events[0]) == plain((await store.history(job_id))[-1])
    assert (job.state, job.run_at, job.attempt, job.updated_at) == (P, now, 0, now)
    assert await store.get(job_id) == job
    (leased,) = await lease(store, queue, now)
    assert leased.id == job_id


async def test_retry_now_keeps_a_waiting_retry_s_attempts_and_errors(store, queue, t0):
    job = await running(store, queue, t0)
    await store.fail([(ref(job), Failure("flaky", retry_after=300.0))], t0, decide(t0))
    now = seconds(t0, 10)

    after, events = await store.retry_now(job.id, now)

    assert trail(events) == [(job.id, P, P, Reason.RETRY_NOW, 1, None, None, now)]
    assert (after.run_at, after.attempt, [e.error for e in after.errors]) == (now, 1, ["flaky"])


async def test_retry_now_leaves_every_other_job_alone(store, queue, t0):
    ids = await every_view(store, queue, t0, "k")
    now = seconds(t0, 10)
    for view in (V.READY, V.RUNNING, V.SUCCEEDED, V.DEAD, V.CANCELLED):
        before = await store.get(ids[view])
        assert await store.retry_now(ids[view], now) == (before, []), view
        assert await store.get(ids[view]) == before
    assert await store.retry_now(str(uuid.uuid4()), now) == (None, [])
