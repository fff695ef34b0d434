"""rescue_expired: a lapsed lease is a failed attempt; the reaper clears the token (a nack keeps it).

`rescue_expired` reaches every queue, so these tests only look at their own queue's events: the
jobs other tests left running lie in later stretches of time and are not lapsed yet.
"""

from __future__ import annotations

import pytest

from broker.entities.job import AttemptError, JobState, Reason
from broker.entities.lease import Failure, FailureDecision, Outcome, classify
from tests.contract.helpers import decide, leased, ref, running, seconds, trail

P, R, D = JobState.PENDING, JobState.RUNNING, JobState.DEAD


def mine(events, queue):
    return [e for e in events if e.queue == queue]


async def test_a_lapsed_lease_with_attempts_left_is_retried_without_its_token(store, queue, t0):
    job = await running(store, queue, t0)  # lease 30 s, backoff 2 s after attempt 1
    now = seconds(t0, 31)

    events = mine(await store.rescue_expired(now, 1000, decide(now)), queue)

    assert trail(events) == [(job.id, R, P, Reason.EXPIRE, 1, "w1", "lease expired", now)]
    after = await store.get(job.id)
    assert (after.state, after.run_at, after.lease_token, after.lease_expires_at) == (P, seconds(now, 2), None, None)
    assert (after.errors, after.finished_at, after.updated_at) == ((AttemptError(1, "lease expired", now),), None, now)
    calls, _ = await store.complete([ref(job)], now)
    assert classify(calls[0].ref, calls[0].changed, calls[0].snapshot, (JobState.SUCCEEDED,)).outcome is Outcome.LOST


async def test_a_lapsed_lease_on_the_last_attempt_goes_dead(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=1)
    now = seconds(t0, 31)

    events = mine(await store.rescue_expired(now, 1000, decide(now)), queue)

    assert trail(events) == [(job.id, R, D, Reason.EXPIRE, 1, "w1", "lease expired", now)]
    after = await store.get(job.id)
    assert (after.state, after.lease_token, after.finished_at, after.last_error) == (D, None, now, "lease expired")
    (call,), _ = await store.fail([(ref(job), Failure("late"))], now, decide(now))
    assert classify(call.ref, call.changed, call.snapshot, (P, D)).outcome is Outcome.LOST


async def test_a_lease_is_not_lapsed_until_its_deadline_has_passed(store, queue, t0):
    job = await running(store, queue, t0)
    deadline = job.lease_expires_at
    assert deadline == seconds(t0, 30)

    assert mine(await store.rescue_expired(deadline, 1000, decide(deadline)), queue) == []
    assert (await store.get(job.id)).state is R
    await store.extend([ref(job)], None, seconds(t0, 29))
    assert mine(await store.rescue_expired(seconds(t0, 31), 1000, decide(t0)), queue) == []
    assert (await store.get(job.id)).lease_token == job.lease_token


async def test_the_oldest_deadlines_are_rescued_first_up_to_the_limit(store, queue, t0):
    early = await running(store, queue, t0, lease_duration=10.0)
    middle = await running(store, queue + "-b", t0, lease_duration=20.0)
    late = await running(store, queue + "-c", t0, lease_duration=25.0)
    now = seconds(t0, 40)
    # Drop what other tests left lapsed before this test's own stretch of time.
    await store.rescue_expired(t0, 1_000_000, decide(t0))

    first = await store.rescue_expired(now, 2, decide(now))
    second = await store.rescue_expired(now, 2, decide(now))

    assert [e.job_id for e in first] in ([early.id, middle.id], [middle.id, early.id])
    assert [e.job_id for e in second] == [late.id]
    assert await store.rescue_expired(now, 2, decide(now)) == []


async def test_a_rescue_whose_decision_raises_changes_nothing(store, queue, t0):
    jobs = await leased(store, queue, t0, 2)
    now = seconds(t0, 31)
    victim = max(j.id for j in jobs)

    def picky(job, failure):
        if job.id == victim:
            raise OverflowError("date value out of range")
        return FailureDecision(P, now)

    await store.rescue_expired(t0, 1_000_000, decide(t0))
    with pytest.raises(OverflowError):
        await store.rescue_expired(now, 1000, picky)

    assert [await store.get(j.id) for j in jobs] == jobs
