"""Poison jobs: lapsed leases are counted on the job apart from nacks, and a job goes DEAD once
they reach its max_lease_expiries, with attempts left or not, the reason in its history."""

from __future__ import annotations

from broker.entities.job import JobState, Reason
from broker.entities.lease import Failure
from tests.contract.helpers import add, decide, lease, ref, running, seconds, trail

P, R, D = JobState.PENDING, JobState.RUNNING, JobState.DEAD
POISON = "lease expired 2 times (max_lease_expiries 2): poison job"


def mine(events, queue):
    return [e for e in events if e.queue == queue]


async def lapse(store, queue, job, now):
    """Let `job`'s lease lapse: the reaper's pass at `now` (after its deadline)."""
    assert job.lease_expires_at < now
    return mine(await store.rescue_expired(now, 1_000_000, decide(now)), queue)


async def test_a_job_keeps_the_limit_it_was_enqueued_with(store, queue, t0):
    (limited,) = await add(store, queue, t0, max_lease_expiries=4)
    (unlimited,) = await add(store, queue, t0)  # no limit of its own

    jobs = [await store.get(job_id) for job_id in (limited, unlimited)]

    assert [(j.lease_expiries, j.max_lease_expiries) for j in jobs] == [(0, 4), (0, None)]


async def test_lapsed_leases_are_counted_and_nacks_are_not(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=10, max_lease_expiries=3)
    await lapse(store, queue, job, seconds(t0, 31))  # retried 2 s later
    (job,) = await lease(store, queue, seconds(t0, 33))
    now = seconds(t0, 34)
    await store.fail([(ref(job), Failure("boom"))], now, decide(now))

    after = await store.get(job.id)
    assert (after.state, after.attempt, after.lease_expiries) == (P, 2, 1)


async def test_a_job_whose_leases_keep_lapsing_goes_dead_with_attempts_left(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=10, max_lease_expiries=2)
    first = await lapse(store, queue, job, seconds(t0, 31))  # retried 2 s later
    (job,) = await lease(store, queue, seconds(t0, 33))
    now = seconds(t0, 64)

    second = await lapse(store, queue, job, now)

    assert [e.to_state for e in first] == [P]
    assert trail(second) == [(job.id, R, D, Reason.EXPIRE, 2, "w1", POISON, now)]
    after = await store.get(job.id)
    assert (after.state, after.attempt, after.max_attempts, after.lease_expiries) == (D, 2, 10, 2)
    assert [e.error for e in after.errors] == ["lease expired", POISON]
    assert [e.error for e in await store.history(job.id)][-1] == POISON


async def test_nacks_never_make_a_poison_job(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=10, max_lease_expiries=1)
    for n in range(3):
        now = seconds(t0, 100 * n + 1)
        await store.fail([(ref(job), Failure("boom", retry_after=0.0))], now, decide(now))
        (job,) = await lease(store, queue, now)

    assert (job.state, job.attempt, job.lease_expiries) == (R, 4, 0)


async def test_a_redrive_with_fresh_attempts_clears_the_count_and_one_without_keeps_it(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=10, max_lease_expiries=1)
    await lapse(store, queue, job, seconds(t0, 31))
    assert (await store.get(job.id)).state is D

    await store.redrive([job.id], None, False, seconds(t0, 40))
    assert (await store.get(job.id)).lease_expiries == 1
    (job,) = await lease(store, queue, seconds(t0, 40))
    await lapse(store, queue, job, seconds(t0, 71))
    again = await store.get(job.id)
    assert (again.state, again.last_error) == (D, "lease expired 2 times (max_lease_expiries 1): poison job")

    await store.redrive([job.id], None, True, seconds(t0, 80))
    assert ((await store.get(job.id)).lease_expiries, (await store.get(job.id)).attempt) == (0, 0)
