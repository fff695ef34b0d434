"""The operators' store calls: redrive, cancel, purge, prune, list_jobs, get, history,
get_with_history, ping."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from broker.entities.job import JobState, Reason
from broker.entities.job_view import JobFilter, views_of
from broker.entities.lease import Failure, Outcome, classify
from tests.contract.helpers import add, decide, lease, leased, new_job, ref, running, seconds, trail

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
UNKNOWN = str(uuid.uuid4())


async def dead(store, queue, now, count=1, **fields):
    """Jobs of their own that failed for good at `now`."""
    jobs = await leased(store, queue, now, count, **fields)
    calls, _ = await store.fail([(ref(j), Failure("fatal", permanent=True)) for j in jobs], now, decide(now))
    assert all(c.changed for c in calls)
    return [await store.get(j.id) for j in jobs]


# -- redrive --------------------------------------------------------------------------------


async def test_redrive_by_id_makes_a_dead_job_ready_now_with_fresh_attempts(store, queue, t0):
    (job,) = await dead(store, queue, t0)
    now = seconds(t0, 100)

    redriven, events = await store.redrive([job.id], None, True, now)

    assert redriven == [job.id]
    assert trail(events) == [(job.id, D, P, Reason.REDRIVE, 0, None, None, now)]
    after = await store.get(job.id)
    assert (after.state, after.run_at, after.attempt, after.updated_at, after.finished_at) == (P, now, 0, now, None)
    assert (after.lease_token, after.worker_id, after.errors) == (None, None, job.errors)
    (again,) = await lease(store, queue, now)
    assert (again.id, again.attempt) == (job.id, 1)


async def test_redrive_without_reset_keeps_counting_attempts(store, queue, t0):
    (job,) = await dead(store, queue, t0, max_attempts=2)
    assert job.attempt == 1

    _, events = await store.redrive([job.id], None, False, t0)

    assert [e.attempt for e in events] == [1]
    (again,) = await lease(store, queue, t0)
    assert again.attempt == 2
    # One more failed attempt uses up the job's attempts: straight back to the dead letters.
    (call,), _ = await store.fail([(ref(again), Failure("still"))], t0, decide(t0))
    assert call.snapshot.state is D


async def test_redrive_by_queue_takes_only_its_dead_jobs(store, queue, t0):
    dead_jobs = await dead(store, queue, t0, count=2)
    (pending,) = await add(store, queue, t0, run_at=seconds(t0, 999))
    (elsewhere,) = await dead(store, queue + "-b", t0)

    redriven, events = await store.redrive([], queue, True, t0)

    assert sorted(redriven) == sorted(j.id for j in dead_jobs)
    assert sorted(e.job_id for e in events) == sorted(redriven)
    assert (await store.get(elsewhere.id)).state is D
    assert len(await store.history(pending)) == 1


async def test_redrive_ignores_jobs_that_are_not_dead(store, queue, t0):
    job = await running(store, queue, t0)
    (pending,) = await add(store, queue, t0)

    assert await store.redrive([job.id, pending, UNKNOWN], None, True, t0) == ([], [])
    assert await store.get(job.id) == job


# -- cancel ---------------------------------------------------------------------------------


async def test_cancel_a_pending_job(store, queue, t0):
    (job_id,) = await add(store, queue, t0)
    now = seconds(t0, 1)

    job, events = await store.cancel(job_id, now)

    assert (job.id, job.state, job.finished_at, job.updated_at) == (job_id, C, now, now)
    assert trail(events) == [(job_id, P, C, Reason.CANCEL, 0, None, None, now)]
    assert await store.claim([queue], "w1", 10, None, now) == ([], [])


async def test_cancel_a_running_job_and_its_worker_loses_the_lease(store, queue, t0):
    held = await running(store, queue, t0)
    now = seconds(t0, 1)

    job, events = await store.cancel(held.id, now)

    assert (job.state, job.lease_expires_at) == (C, None)
    assert trail(events) == [(held.id, R, C, Reason.CANCEL, 1, "w1", None, now)]
    (beat,) = await store.extend([ref(held)], None, now)
    (ack,), acked = await store.complete([ref(held)], now)
    (nack,), nacked = await store.fail([(ref(held), Failure("x"))], now, decide(now))
    assert [classify(beat.ref, beat.changed, beat.snapshot, ()).outcome,
            classify(ack.ref, ack.changed, ack.snapshot, (S,)).outcome,
            classify(nack.ref, nack.changed, nack.snapshot, (P, D)).outcome] == [Outcome.LOST] * 3
    assert acked == nacked == []
    assert (await store.get(held.id)).state is C
    lapsed = await store.rescue_expired(seconds(t0, 100), 1000, decide(t0))
    assert [e for e in lapsed if e.queue == queue] == []


async def test_cancel_refuses_finished_jobs_and_changes_nothing(store, queue, t0):
    succeeded = await running(store, queue, t0)
    await store.complete([ref(succeeded)], t0)
    (dead_job,) = await dead(store, queue + "-d", t0)
    (cancelled,) = await add(store, queue + "-c", t0)
    await store.cancel(cancelled, t0)

    for job_id, state in ((succeeded.id, S), (dead_job.id, D), (cancelled, C)):
        before = await store.get(job_id)
        job, events = await store.cancel(job_id, seconds(t0, 5))
        assert (job.state, events) == (state, [])
        assert job == before
        assert sum(e.reason is Reason.CANCEL for e in await store.history(job_id)) == (state is C)


async def test_cancel_an_unknown_job(store, t0):
    assert await store.cancel(UNKNOWN, t0) == (None, [])


# -- purge ----------------------------------------------------------------------------------


async def test_purge_by_ids_deletes_only_jobs_in_the_given_state_with_their_history(store, queue, t0):
    gone, kept = await dead(store, queue, t0, count=2)
    (pending,) = await add(store, queue, t0)

    assert await store.purge([gone.id, pending, UNKNOWN], None, D) == 1

    assert await store.get(gone.id) is None
    assert await store.history(gone.id) == []
    assert (await store.get(kept.id)).state is D
    assert (await store.get(pending)).state is P


async def test_purge_by_queue(store, queue, t0):
    dead_jobs = await dead(store, queue, t0, count=3)
    (other,) = await dead(store, queue + "-b", t0)
    succeeded = await running(store, queue, t0)
    await store.complete([ref(succeeded)], t0)

    assert await store.purge([], queue, D) == 3
    assert await store.purge([], queue, D) == 0

    assert [await store.get(j.id) for j in dead_jobs] == [None] * 3
    assert (await store.get(other.id)).state is D
    assert (await store.get(succeeded.id)).state is S
    assert await store.purge([], queue, S) == 1


# -- prune ----------------------------------------------------------------------------------

# prune reaches every queue: this test keeps to a stretch of time no other test uses (1990), so
# only its own jobs are older than its cut-offs.
PRUNE_ERA = datetime(1990, 1, 1, tzinfo=timezone.utc)


async def test_prune_deletes_succeeded_and_cancelled_jobs_finished_before_the_cut_off(store, queue):
    t = PRUNE_ERA
    old_done = await leased(store, queue, t, 3)
    await store.complete([ref(j) for j in old_done], t)
    (old_cancelled,) = await add(store, queue, t)
    await store.cancel(old_cancelled, t)
    (old_dead,) = await dead(store, queue, t)
    (old_pending,) = await add(store, queue, t, run_at=seconds(t, 10_000))
    new_done = await running(store, queue, seconds(t, 60))
    await store.complete([ref(new_done)], seconds(t, 60))
    cutoff = seconds(t, 30)

    assert await store.prune(cutoff, 2) == 2
    assert await store.prune(cutoff, 100) == 2
    assert await store.prune(cutoff, 100) == 0

    for job in old_done:
        assert await store.get(job.id) is None and await store.history(job.id) == []
    assert await store.get(old_cancelled) is None
    assert (await store.get(old_dead.id)).state is D
    assert (await store.get(old_pending)).state is P
    assert (await store.get(new_done.id)).state is S
    assert await store.prune(seconds(t, 61), 100) == 1


# -- list, get, history, ping ----------------------------------------------------------------


async def test_list_jobs_newest_first_by_queue_and_state_after_a_cursor(store, queue, t0):
    ids = []
    for n in range(5):
        ids += await add(store, queue, seconds(t0, n))
    ties, _ = await store.enqueue([new_job(queue, t0), new_job(queue, t0)], seconds(t0, 10))
    await add(store, queue + "-b", seconds(t0, 20))
    await store.cancel(ids[1], seconds(t0, 30))
    newest_first = sorted((i.job_id for i in ties), reverse=True) + ids[::-1]

    everything = await store.list_jobs(JobFilter(queue=queue), 100, None, t0)
    first_page = await store.list_jobs(JobFilter(queue=queue), 3, None, t0)
    after = (first_page[-1].created_at, first_page[-1].id)
    rest = await store.list_jobs(JobFilter(queue=queue), 100, after, t0)
    cancelled = await store.list_jobs(JobFilter(queue=queue, views=views_of(C)), 100, None, t0)
    pending_after = await store.list_jobs(JobFilter(queue=queue, views=views_of(P)), 2, (seconds(t0, 3), ids[3]), t0)

    assert [j.id for j in everything] == newest_first
    assert [j.id for j in first_page + rest] == newest_first
    assert [j.id for j in cancelled] == [ids[1]]
    assert [j.id for j in pending_after] == [ids[2], ids[0]]


async def test_list_jobs_of_every_queue(store, queue, t0):
    (a,) = await add(store, queue, seconds(t0, 1))
    (b,) = await add(store, queue + "-b", seconds(t0, 2))

    found = [j.id for j in await store.list_jobs(JobFilter(), 10, (seconds(t0, 3), UNKNOWN), t0)]

    assert found.index(b) < found.index(a)


async def test_get_and_history_of_an_unknown_job(store):
    assert await store.get(UNKNOWN) is None
    assert await store.history(UNKNOWN) == []


async def test_get_with_history_is_get_and_history_together(store, queue, t0):
    (job,) = await dead(store, queue, t0)
    await store.redrive([job.id], None, True, seconds(t0, 5))

    got, history = await store.get_with_history(job.id.upper())

    assert got == await store.get(job.id)
    assert history == await store.history(job.id)
    assert [e.reason for e in history] == [Reason.ENQUEUE, Reason.LEASE, Reason.NACK, Reason.REDRIVE]
    assert await store.get_with_history(UNKNOWN) == (None, [])


async def test_get_accepts_an_upper_case_id(store, queue, t0):
    (job_id,) = await add(store, queue, t0)

    assert (await store.get(job_id.upper())).id == job_id


async def test_ping(store):
    assert await store.ping() is None
