"""extend, complete and fail: what changes under the current lease token, and what a store reports
for stale tokens, unknown jobs and repeats (the use cases classify it with entities.lease.classify)."""

from __future__ import annotations

import uuid

import pytest

from broker.entities.job import AttemptError, JobState, Reason
from broker.entities.lease import Failure, FailureDecision, LeaseRef, Outcome, Snapshot, classify
from broker.usecases.ports import LeaseCall
from tests.contract.helpers import add, decide, lease, leased, ref, running, seconds, trail

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
UNKNOWN = str(uuid.uuid4())


async def _stale(store, queue, t0):
    """A job whose first lease lapsed and was re-leased: (the job now, the stale first token)."""
    first = await running(store, queue, t0)
    await store.rescue_expired(seconds(t0, 31), 100, lambda j, f: FailureDecision(P, seconds(t0, 31)))
    (again,) = await lease(store, queue, seconds(t0, 31))
    assert again.id == first.id
    return again, first.lease_token


# -- extend ---------------------------------------------------------------------------------


async def test_extend_pushes_the_deadline_of_a_held_lease(store, queue, t0):
    job = await running(store, queue, t0)
    now = seconds(t0, 20)

    (call,) = await store.extend([ref(job)], None, now)
    (override,) = await store.extend([ref(job)], 5.0, seconds(now, 1))

    assert call == LeaseCall(ref(job), True, Snapshot(R, job.lease_token), seconds(now, 30))
    assert override.changed and override.at == seconds(now, 6)
    after = await store.get(job.id)
    assert (after.state, after.lease_token, after.lease_expires_at) == (R, job.lease_token, seconds(now, 6))
    assert (after.lease_duration, after.updated_at) == (30.0, t0)
    assert len(await store.history(job.id)) == 2  # enqueue, lease: a heartbeat is no transition


async def test_extend_refuses_stale_tokens_unknown_jobs_and_jobs_no_longer_running(store, queue, t0):
    job, stale = await _stale(store, queue, t0)
    done = await running(store, queue + "-2", t0)
    await store.complete([ref(done)], t0)
    now = seconds(t0, 40)

    calls = await store.extend([LeaseRef(job.id, stale), LeaseRef(UNKNOWN, stale), ref(done)], None, now)

    assert calls == [
        LeaseCall(LeaseRef(job.id, stale), False, Snapshot(R, job.lease_token, job.run_at)),
        LeaseCall(LeaseRef(UNKNOWN, stale), False, None),
        LeaseCall(ref(done), False, Snapshot(S, done.lease_token, done.run_at)),
    ]
    assert [classify(c.ref, c.changed, c.snapshot, ()).outcome for c in calls] == [
        Outcome.LOST, Outcome.NOT_FOUND, Outcome.LOST]
    assert (await store.get(job.id)).lease_expires_at == job.lease_expires_at


# -- complete -------------------------------------------------------------------------------


async def test_complete_finishes_a_held_lease_and_a_repeat_changes_nothing(store, queue, t0):
    job = await running(store, queue, t0)
    now = seconds(t0, 5)

    (call,), events = await store.complete([ref(job)], now)
    (repeat,), again = await store.complete([ref(job)], seconds(now, 1))

    assert call == LeaseCall(ref(job), True, Snapshot(S, job.lease_token), None)
    assert trail(events) == [(job.id, R, S, Reason.ACK, 1, "w1", None, now)]
    assert repeat == LeaseCall(ref(job), False, Snapshot(S, job.lease_token, job.run_at))
    assert classify(repeat.ref, repeat.changed, repeat.snapshot, (S,)).outcome is Outcome.OK
    assert again == []
    after = await store.get(job.id)
    assert (after.state, after.finished_at, after.updated_at, after.lease_expires_at) == (S, now, now, None)
    assert (after.lease_token, after.worker_id) == (job.lease_token, "w1")
    assert [e.reason for e in await store.history(job.id)] == [Reason.ENQUEUE, Reason.LEASE, Reason.ACK]


async def test_complete_refuses_stale_tokens_and_unknown_jobs(store, queue, t0):
    job, stale = await _stale(store, queue, t0)

    calls, events = await store.complete([LeaseRef(job.id, stale), LeaseRef(UNKNOWN, stale)], seconds(t0, 40))

    assert calls == [LeaseCall(LeaseRef(job.id, stale), False, Snapshot(R, job.lease_token, job.run_at)),
                     LeaseCall(LeaseRef(UNKNOWN, stale), False, None)]
    assert events == []
    assert await store.get(job.id) == job


async def test_one_lease_named_twice_in_a_batch_completes_once(store, queue, t0):
    job = await running(store, queue, t0)

    calls, events = await store.complete([ref(job), ref(job)], t0)

    assert [classify(c.ref, c.changed, c.snapshot, (S,)).outcome for c in calls] == [Outcome.OK, Outcome.OK]
    assert len(events) == 1
    assert len(await store.history(job.id)) == 3


async def test_a_batch_of_leases_is_answered_in_request_order(store, queue, t0):
    jobs = await leased(store, queue, t0, 3)
    refs = [ref(jobs[2]), LeaseRef(UNKNOWN, "x"), ref(jobs[0]), ref(jobs[1], "stale")]

    calls, events = await store.complete(refs, t0)

    assert [c.ref for c in calls] == refs
    assert [c.changed for c in calls] == [True, False, True, False]
    assert sorted(e.job_id for e in events) == sorted([jobs[2].id, jobs[0].id])


# A stale ref beside the current one in the same batch is LOST, never OK (a bug found here once).


@pytest.mark.parametrize("operation", ["extend", "complete", "fail"])
async def test_a_stale_token_beside_the_current_one_is_not_reported_done(store, queue, t0, operation):
    job, stale = await _stale(store, queue, t0)
    refs = [LeaseRef(job.id, stale), ref(job)]
    now = seconds(t0, 40)
    if operation == "extend":
        calls = await store.extend(refs, None, now)
    elif operation == "complete":
        calls, _ = await store.complete(refs, now)
    else:
        calls, _ = await store.fail([(r, Failure("boom")) for r in refs], now, decide(now))

    assert [c.changed for c in calls] == [False, True]


# -- fail -----------------------------------------------------------------------------------


async def test_fail_with_attempts_left_retries_after_the_backoff_and_keeps_the_token(store, queue, t0):
    job = await running(store, queue, t0)  # max 3 attempts, delays 2 s, 6 s, 18 s (no jitter)
    now = seconds(t0, 4)

    (call,), events = await store.fail([(ref(job), Failure("boom"))], now, decide(now))

    assert call == LeaseCall(ref(job), True, Snapshot(P, job.lease_token), seconds(now, 2))
    assert trail(events) == [(job.id, R, P, Reason.NACK, 1, "w1", "boom", now)]
    after = await store.get(job.id)
    assert (after.state, after.run_at, after.lease_token, after.lease_expires_at) == (
        P, seconds(now, 2), job.lease_token, None)
    assert (after.errors, after.finished_at, after.updated_at) == ((AttemptError(1, "boom", now),), None, now)

    (repeat,), again = await store.fail([(ref(job), Failure("boom"))], seconds(now, 1), decide(now))

    assert repeat == LeaseCall(ref(job), False, Snapshot(P, job.lease_token, seconds(now, 2)))
    result = classify(repeat.ref, repeat.changed, repeat.snapshot, (P, D))
    assert (result.outcome, result.at) == (Outcome.OK, seconds(now, 2))
    assert again == [] and await store.get(job.id) == after


async def test_the_backoff_grows_with_each_attempt(store, queue, t0):
    await add(store, queue, t0)
    now, run_ats = t0, []
    for _ in range(2):
        (job,) = await lease(store, queue, now)
        (call,), _ = await store.fail([(ref(job), Failure("again"))], now, decide(now))
        run_ats.append(call.at - now)
        now = call.at

    assert [d.total_seconds() for d in run_ats] == [2.0, 6.0]
    errors = (await store.get(job.id)).errors
    assert [(e.attempt, e.error) for e in errors] == [(1, "again"), (2, "again")]


async def test_fail_on_the_last_attempt_sends_the_job_to_dead(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=1)

    (call,), events = await store.fail([(ref(job), Failure("last"))], t0, decide(t0))

    assert call == LeaseCall(ref(job), True, Snapshot(D, job.lease_token), None)
    assert trail(events) == [(job.id, R, D, Reason.NACK, 1, "w1", "last", t0)]
    after = await store.get(job.id)
    assert (after.state, after.finished_at, after.run_at, after.last_error) == (D, t0, t0, "last")
    (repeat,), _ = await store.fail([(ref(job), Failure("last"))], t0, decide(t0))
    assert classify(repeat.ref, repeat.changed, repeat.snapshot, (P, D)).outcome is Outcome.OK


async def test_a_permanent_failure_is_dead_at_once_and_retry_after_sets_the_next_run(store, queue, t0):
    doomed, later = await leased(store, queue, t0, 2)

    calls, events = await store.fail([(ref(doomed), Failure("bad input", permanent=True)),
                                      (ref(later), Failure("busy", retry_after=120.0))], t0, decide(t0))

    assert [(c.snapshot.state, c.at) for c in calls] == [(D, None), (P, seconds(t0, 120))]
    assert sorted((e.job_id, e.to_state) for e in events) == sorted([(doomed.id, D), (later.id, P)])
    assert (await store.get(later.id)).run_at == seconds(t0, 120)


async def test_fail_passes_decide_the_running_job_and_the_failure(store, queue, t0):
    job = await running(store, queue, t0)
    seen = []

    def spy(j, failure):
        seen.append((j.id, j.state, j.attempt, j.lease_token, failure))
        return FailureDecision(P, seconds(t0, 9))

    await store.fail([(ref(job), Failure("x", retry_after=3.0))], t0, spy)

    assert seen == [(job.id, R, 1, job.lease_token, Failure("x", retry_after=3.0))]
    assert (await store.get(job.id)).run_at == seconds(t0, 9)


async def test_fail_refuses_stale_tokens_unknown_jobs_and_finished_jobs(store, queue, t0):
    job, stale = await _stale(store, queue, t0)
    cancelled = await running(store, queue + "-2", t0)
    await store.cancel(cancelled.id, t0)
    items = [(LeaseRef(job.id, stale), Failure("e")), (LeaseRef(UNKNOWN, stale), Failure("e")),
             (ref(cancelled), Failure("e"))]

    calls, events = await store.fail(items, seconds(t0, 40), decide(seconds(t0, 40)))

    assert [c.changed for c in calls] == [False, False, False]
    assert calls[1].snapshot is None
    assert [classify(c.ref, c.changed, c.snapshot, (P, D)).outcome for c in calls] == [
        Outcome.LOST, Outcome.NOT_FOUND, Outcome.LOST]
    assert events == []
    assert await store.get(job.id) == job
    assert (await store.get(cancelled.id)).state is C


async def test_a_decision_that_raises_changes_nothing(store, queue, t0):
    first, second = await leased(store, queue, t0, 2)

    def picky(job, failure):
        if job.id == max(first.id, second.id):
            raise ValueError("no decision")
        return FailureDecision(P, t0)

    with pytest.raises(ValueError):
        await store.fail([(ref(first), Failure("a")), (ref(second), Failure("b"))], t0, picky)

    assert await store.get(first.id) == first and await store.get(second.id) == second
    assert len(await store.history(first.id)) == len(await store.history(second.id)) == 2
