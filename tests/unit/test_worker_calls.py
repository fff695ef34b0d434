"""The worker's calls through the interactors: Lease (with long polls), Heartbeat, Ack, Nack, and
the background passes that reap lapsed leases and prune finished jobs."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import timedelta

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState, Reason
from broker.entities.lease import LeaseRef, LeaseResult, Outcome
from broker.entities.retry import RetryPolicy
from broker.usecases import context
from broker.usecases.enqueue import RetrySpec
from broker.usecases.lease import RECHECK_SECONDS, LeaseRequest
from broker.usecases.nack import NackItem
from tests.fakes import RecordingNotifier, serving
from tests.unit.conftest import SEED, World
from tests.unit.turns import until

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
UNKNOWN = str(uuid.uuid4())


def lease_ref(job) -> LeaseRef:
    return LeaseRef(job.id, job.lease_token)


def request(**fields) -> LeaseRequest:
    return LeaseRequest(**{"queues": ("steady",), "worker_id": "w1", "max_jobs": 1, **fields})


# -- Lease ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, field", [
    ({"queues": ()}, "queues"),
    ({"queues": ("ok", "not ok")}, "queues[1]"),
    ({"worker_id": ""}, "worker_id"),
    ({"worker_id": "w" * 257}, "worker_id"),
    ({"max_jobs": 0}, "max_jobs"),
    ({"max_jobs": 1001}, "max_jobs"),
    ({"lease_duration": 0.2}, "lease_duration"),
    ({"wait": -1.0}, "wait"),
    ({"wait": 60.5}, "wait"),
])
async def test_a_bad_lease_request_is_refused_naming_the_field(world, fields, field):
    await world.add()
    with pytest.raises(InvalidArgument) as caught:
        await world.lease(request(**fields))
    assert caught.value.field == field
    assert all(j.state is P for j in world.store.jobs.values())


async def test_lease_hands_out_ready_jobs_at_once_and_records_their_events(world):
    ids = await world.add(count=3)

    with serving("r-1"):
        jobs = await world.lease(request(max_jobs=2, lease_duration=5.0))

    assert {j.id for j in jobs} < set(ids) and len(jobs) == 2
    now = world.clock.now()
    assert all((j.state, j.attempt, j.worker_id, j.lease_expires_at) == (R, 1, "w1", now + timedelta(seconds=5))
               for j in jobs)
    events, request_id = world.sink.calls[-1]
    assert request_id == "r-1"
    assert [(e.job_id, e.reason) for e in events] == [(j.id, Reason.LEASE) for j in jobs]
    assert world.notifier.waits == []


async def test_the_same_queue_named_twice_is_asked_once(world):
    asked = []
    claim = world.store.claim

    async def spy(queues, *args):
        asked.append(list(queues))
        return await claim(queues, *args)

    world.store.claim = spy
    await world.add("a")

    await world.lease(request(queues=("b", "a", "b")))

    assert asked == [["b", "a"]]


async def test_without_a_wait_an_empty_queue_answers_at_once(world):
    assert await world.lease(request()) == []
    assert world.notifier.waits == []


async def test_a_long_poll_returns_nothing_once_its_wait_is_over(world):
    start = world.clock.now()

    assert await world.lease(request(wait=2.0)) == []

    assert [timeout for _, timeout in world.notifier.waits] == [RECHECK_SECONDS] * 4
    assert world.clock.now() - start == timedelta(seconds=2)


async def test_a_long_poll_ends_before_the_deadline_of_the_call_it_serves(world):
    start, token = world.clock.now(), context.deadline.set(time.monotonic() + 1.0)
    try:
        assert await world.lease(request(wait=30.0)) == []
    finally:
        context.deadline.reset(token)

    assert timedelta(seconds=0.9) < world.clock.now() - start < timedelta(seconds=1)


async def test_a_long_poll_takes_a_job_whose_run_at_arrives_during_the_wait(world):
    (job_id,) = await world.add(run_at=world.clock.now() + timedelta(seconds=1))

    (job,) = await world.lease(request(wait=10.0))

    assert job.id == job_id
    assert len(world.notifier.waits) == 2


async def test_a_long_poll_wakes_when_its_queue_is_notified():
    world = World(notifier=RecordingNotifier())  # waits last until notified: no time passes
    poll = asyncio.create_task(world.lease(request(queues=("steady", "other"), wait=30.0)))
    await until(lambda: world.notifier.waiting == 1)
    await world.add("elsewhere")
    await until(lambda: poll.done(), tries=20, fail=False)
    assert not poll.done()

    (job_id,) = await world.add("other")
    (job,) = await asyncio.wait_for(poll, 1.0)

    assert job.id == job_id
    assert world.notifier.waits == [(("steady", "other"), RECHECK_SECONDS)]


async def test_a_closed_notifier_ends_long_polls_at_once():
    world = World(notifier=RecordingNotifier())
    poll = asyncio.create_task(world.lease(request(wait=30.0)))
    await until(lambda: world.notifier.waiting == 1)

    world.notifier.close()

    assert await asyncio.wait_for(poll, 1.0) == []
    await world.add()
    assert await world.lease(request(wait=30.0)) == []  # shutting down: no new leases either
    assert len(world.notifier.waits) == 1


# -- Heartbeat --------------------------------------------------------------------------------

async def test_heartbeat_extends_held_leases_and_names_lost_and_unknown_ones(world):
    await world.add(count=2)
    held, lost = await world.take(count=2)
    await world.cancel(lost.id)
    world.clock.advance(10)
    now = world.clock.now()

    results = await world.heartbeat([lease_ref(held), lease_ref(lost), LeaseRef(UNKNOWN, "t")])

    assert results == [LeaseResult(held.id, Outcome.OK, R, now + timedelta(seconds=30)),
                       LeaseResult(lost.id, Outcome.LOST, C), LeaseResult(UNKNOWN, Outcome.NOT_FOUND)]
    assert world.store.jobs[held.id].lease_expires_at == now + timedelta(seconds=30)


async def test_heartbeat_may_ask_for_another_duration_within_bounds(world):
    await world.add()
    (job,) = await world.take()

    (result,) = await world.heartbeat([lease_ref(job)], lease_duration=120.0)

    assert result.at == world.clock.now() + timedelta(seconds=120)
    with pytest.raises(InvalidArgument) as caught:
        await world.heartbeat([lease_ref(job)], lease_duration=0.0)
    assert caught.value.field == "lease_duration"


@pytest.mark.parametrize("refs, field", [
    ([], "leases"),
    ([LeaseRef("not-a-uuid", "t")], "leases[0].job_id"),
    ([LeaseRef(UNKNOWN, "t"), LeaseRef(UNKNOWN, "")], "leases[1].lease_token"),
])
async def test_lease_references_are_checked(world, refs, field):
    for call in (world.heartbeat, world.ack):
        with pytest.raises(InvalidArgument) as caught:
            await call(refs)
        assert caught.value.field == field
    with pytest.raises(InvalidArgument) as caught:
        await world.nack([NackItem(r) for r in refs])
    # A Nack's leases are its items' `lease` fields, named by their path on the wire.
    assert caught.value.field == (field.replace("leases[", "items[").replace("].", "].lease.")
                                  if "[" in field else "items")


# -- Ack ----------------------------------------------------------------------------------------

async def test_ack_succeeds_once_and_a_repeat_is_a_quiet_ok(world):
    await world.add()
    (job,) = await world.take()

    with serving("a-1"):
        assert await world.ack([lease_ref(job)]) == [LeaseResult(job.id, Outcome.OK, S)]
    assert await world.ack([lease_ref(job)]) == [LeaseResult(job.id, Outcome.OK, S)]

    assert [e.reason for e in world.sink.for_job(job.id)] == [Reason.ENQUEUE, Reason.LEASE, Reason.ACK]
    assert world.sink.calls[-2][1] == "a-1" and world.sink.calls[-1] == ([], None)


async def test_an_ack_after_the_lease_lapsed_is_lost(world):
    await world.add()
    (job,) = await world.take()
    world.clock.advance(31)
    await world.reap.run_once()
    world.clock.advance(1)  # the retry's backoff
    (again,) = await world.take()

    assert await world.ack([lease_ref(job)]) == [LeaseResult(job.id, Outcome.LOST, R)]
    assert await world.ack([LeaseRef(UNKNOWN, "t")]) == [LeaseResult(UNKNOWN, Outcome.NOT_FOUND)]
    assert world.store.jobs[job.id].lease_token == again.lease_token


# -- Nack ---------------------------------------------------------------------------------------

async def test_nack_retries_after_the_jittered_backoff_drawn_from_the_seeded_random():
    world = World()
    (job_id,) = await world.add("default-queue")  # the default policy: full jitter, 1 s doubling
    (job,) = await world.take("default-queue")
    expected = RetryPolicy().delay(1, random.Random(SEED))

    (result,) = await world.nack([NackItem(lease_ref(job), "boom")])

    run_at = world.clock.now() + timedelta(seconds=expected)
    assert result == LeaseResult(job_id, Outcome.OK, P, run_at)
    stored = world.store.jobs[job_id]
    assert (stored.state, stored.run_at, stored.last_error) == (P, run_at, "boom")
    assert 0 <= expected <= 1.0


async def test_two_brokers_with_the_same_seed_retry_at_the_same_time():
    times = []
    for _ in range(2):
        world = World()
        await world.add("default-queue", count=3)
        jobs = await world.take("default-queue", count=3)
        times.append([r.at for r in await world.nack([NackItem(lease_ref(j)) for j in jobs])])
    assert times[0] == times[1]
    assert len(set(times[0])) == 3


async def test_nack_on_the_last_attempt_or_permanent_goes_dead(world):
    (once,) = await world.add(max_attempts=1)
    await world.add()
    jobs = {j.id: j for j in await world.take(count=2)}
    other = next(j for j in jobs.values() if j.id != once)

    results = await world.nack([NackItem(lease_ref(jobs[once]), "last"), NackItem(lease_ref(other), "bad", permanent=True)])

    assert results == [LeaseResult(once, Outcome.OK, D), LeaseResult(other.id, Outcome.OK, D)]
    assert [e.to_state for e in world.sink.events[-2:]] == [D, D]
    assert world.store.jobs[once].finished_at == world.clock.now()


async def test_retry_after_overrides_the_backoff(world):
    await world.add()
    (job,) = await world.take()

    (result,) = await world.nack([NackItem(lease_ref(job), retry_after=42.5)])

    assert result.at == world.clock.now() + timedelta(seconds=42.5)


@pytest.mark.parametrize("retry_after", [-0.1, 366 * 86400 + 1])
async def test_retry_after_is_bounded(world, retry_after):
    await world.add()
    (job,) = await world.take()
    with pytest.raises(InvalidArgument) as caught:
        await world.nack([NackItem(lease_ref(job)), NackItem(lease_ref(job), retry_after=retry_after)])
    assert caught.value.field == "items[1].retry_after"
    assert world.store.jobs[job.id].state is R


async def test_the_error_is_kept_shortened_or_named(world):
    await world.add(count=2)
    long_one, quiet = await world.take(count=2)

    await world.nack([NackItem(lease_ref(long_one), "e" * (world.limits.max_error_chars + 500)), NackItem(lease_ref(quiet))])

    assert world.store.jobs[long_one.id].last_error == "e" * world.limits.max_error_chars
    assert world.store.jobs[quiet.id].last_error == "nacked"


async def test_a_repeated_nack_answers_the_same_retry_time(world):
    await world.add()
    (job,) = await world.take()

    (first,) = await world.nack([NackItem(lease_ref(job), "x")])
    world.clock.advance(0.5)
    (again,) = await world.nack([NackItem(lease_ref(job), "x")])

    assert first == again == LeaseResult(job.id, Outcome.OK, P, first.at)
    assert first.at == world.clock.now() - timedelta(seconds=0.5) + timedelta(seconds=1)
    assert len(world.sink.for_job(job.id)) == 3


async def test_a_nack_with_a_stale_token_changes_nothing(world):
    await world.add()
    (job,) = await world.take()
    await world.nack([NackItem(lease_ref(job))])
    world.clock.advance(5)
    (again,) = await world.take()
    before = world.store.jobs[job.id]

    assert await world.nack([NackItem(lease_ref(job), "late")]) == [LeaseResult(job.id, Outcome.LOST, R)]
    assert world.store.jobs[job.id] == before


# -- the reaper and the pruner --------------------------------------------------------------------

async def test_the_reaper_retries_or_kills_lapsed_leases_and_wakes_their_queues(world):
    await world.add("steady")
    await world.add("fragile", max_attempts=1)
    (steady,) = await world.take("steady")
    (fragile,) = await world.take("fragile")
    world.notifier.notified.clear()
    world.clock.advance(30)
    assert await world.reap.run_once() == 0  # at the deadline, not past it
    world.clock.advance(1)

    assert await world.reap.run_once() == 2

    assert world.store.jobs[steady.id].state is P and world.store.jobs[fragile.id].state is D
    assert world.notifier.notified == [["steady"]]
    assert [e.reason for e in world.sink.events[-2:]] == [Reason.EXPIRE, Reason.EXPIRE]
    assert await world.heartbeat([lease_ref(steady)]) == [LeaseResult(steady.id, Outcome.LOST, P)]
    assert await world.reap.run_once() == 0


async def test_the_reaper_passes_its_batch_size_to_the_store(world):
    seen = []
    rescue = world.store.rescue_expired

    async def spy(now, limit, decide):
        seen.append(limit)
        return await rescue(now, limit, decide)

    world.store.rescue_expired = spy
    await world.reap.run_once()
    assert seen == [1000]


async def test_the_pruner_removes_finished_jobs_past_the_retention(world):
    await world.add(count=3)
    done, dead, running = await world.take(count=3)
    await world.ack([lease_ref(done)])
    await world.nack([NackItem(lease_ref(dead), permanent=True)])
    (cancelled,) = await world.add("other")
    await world.cancel(cancelled)
    world.clock.advance(3600)
    assert await world.prune.run_once() == 0

    world.clock.advance(1)

    assert await world.prune.run_once() == 2
    assert set(world.store.jobs) == {dead.id, running.id}


# Backoffs past what a datetime holds are cut, never an OverflowError (a bug found here once).


async def test_a_nack_of_a_job_with_an_enormous_backoff_is_answered(world):
    try:
        await world.add(retry=RetrySpec(initial_delay=3e11, max_delay=3e11))
    except InvalidArgument:
        return  # refusing the policy at Enqueue would be a fix too
    (job,) = await world.take()

    (result,) = await world.nack([NackItem(lease_ref(job))])

    assert result.outcome is Outcome.OK


async def test_one_job_with_an_enormous_backoff_does_not_stop_the_reaper(world):
    (normal,) = await world.add()
    try:
        await world.add(retry=RetrySpec(initial_delay=3e11, max_delay=3e11))
    except InvalidArgument:
        return
    await world.take(count=2)
    world.clock.advance(31)

    await world.reap.run_once()

    assert world.store.jobs[normal].state is P


@pytest.mark.parametrize("wait", [0.9134364244112401, 0.9847433736937232, 0.9763774618976614])
async def test_a_long_poll_whose_wait_is_no_whole_number_of_microseconds_ends(world, wait):
    # Counted in float seconds, the time left could end as a fraction of a microsecond that a
    # clock moved in whole microseconds never passes: the poll looped without end.
    start = world.clock.now()
    assert await asyncio.wait_for(world.lease(request(wait=wait)), 5.0) == []
    assert timedelta(seconds=wait - 1e-6) <= world.clock.now() - start <= timedelta(seconds=wait + 1e-6)
