"""Enqueue: validation with messages that name the field, queue defaults, idempotency, wake-ups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState, Reason
from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.usecases.enqueue import JobSpec, RetrySpec
from tests.fakes import serving
from tests.unit.conftest import STEADY, World

OK = JobSpec(queue="steady", kind="task")


def spec(**fields) -> JobSpec:
    return JobSpec(**{"queue": "steady", "kind": "task", **fields})


async def refused(world: World, specs, field: str, batch: bool = True) -> str:
    with pytest.raises(InvalidArgument) as caught:
        await world.enqueue(specs, batch=batch)
    assert caught.value.field == field
    assert str(caught.value).startswith(field + ": ")
    # Bad input changes nothing.
    assert world.store.jobs == {} and world.sink.events == [] and world.notifier.notified == []
    return str(caught.value)


@pytest.mark.parametrize("bad, field", [
    (spec(queue="no spaces"), "jobs[2].queue"),
    (spec(queue=""), "jobs[2].queue"),
    (spec(kind=""), "jobs[2].kind"),
    (spec(kind="k" * 129), "jobs[2].kind"),
    (spec(payload=b"x" * (1024 * 1024 + 1)), "jobs[2].payload"),
    (spec(headers={"h": "v" * 64 * 1024}), "jobs[2].headers"),
    (spec(idempotency_key="k" * 257), "jobs[2].idempotency_key"),
    (spec(concurrency_key="k" * 257), "jobs[2].concurrency_key"),
    (spec(concurrency_key="a\x00b"), "jobs[2].concurrency_key"),
    (spec(priority=2**31), "jobs[2].priority"),
    (spec(priority=-(2**31) - 1), "jobs[2].priority"),
    (spec(max_attempts=1001), "jobs[2].max_attempts"),
    (spec(max_attempts=-1), "jobs[2].max_attempts"),
    (spec(lease_duration=0.5), "jobs[2].lease_duration"),
    (spec(lease_duration=12 * 3600 + 1), "jobs[2].lease_duration"),
    (spec(retry=RetrySpec(initial_delay=-1.0)), "jobs[2].retry_policy.initial_delay"),
    (spec(retry=RetrySpec(max_delay=0.5, initial_delay=1.0)), "jobs[2].retry_policy.max_delay"),
    (spec(retry=RetrySpec(multiplier=0.5)), "jobs[2].retry_policy.multiplier"),
])
async def test_a_bad_job_in_a_batch_is_refused_by_its_position_and_field(world, bad, field):
    await refused(world, [OK, OK, bad, OK], field)


async def test_messages_say_what_is_wrong(world):
    assert "1048577 bytes is over the limit of 1048576 bytes" in await refused(
        world, [spec(payload=b"x" * (1024 * 1024 + 1))], "jobs[0].payload")
    assert "1001 is outside 1 to 1000" in await refused(world, [spec(max_attempts=1001)], "jobs[0].max_attempts")
    assert "is 257 characters; at most 256" in await refused(
        world, [spec(idempotency_key="k" * 257)], "jobs[0].idempotency_key")
    assert "must be at least initial_delay" in await refused(
        world, [spec(retry=RetrySpec(max_delay=0.5))], "jobs[0].retry_policy.max_delay")


async def test_a_single_enqueue_names_the_field_of_job(world):
    await refused(world, [spec(kind="")], "job.kind", batch=False)


async def test_the_batch_size_is_bounded(world):
    await refused(world, [], "jobs")
    await refused(world, [OK] * 1001, "jobs")
    assert len(await world.enqueue([OK] * 1000)) == 1000


async def test_the_limits_are_settings():
    limits = Limits(max_payload_bytes=4, max_key_length=3, max_headers_bytes=5, max_batch=2)
    at_the_limits = spec(payload=b"1234", idempotency_key="abc", headers={"ab": "cde"})
    assert len(await World(limits=limits).enqueue([at_the_limits, OK])) == 2
    await refused(World(limits=limits), [spec(payload=b"12345")], "jobs[0].payload")
    await refused(World(limits=limits), [spec(idempotency_key="abcd")], "jobs[0].idempotency_key")
    await refused(World(limits=limits), [spec(headers={"ab": "cdef"})], "jobs[0].headers")
    await refused(World(limits=limits), [spec(headers={"ab": "cdé"})], "jobs[0].headers")  # 5 characters, 6 bytes
    await refused(World(limits=limits), [OK] * 3, "jobs")


async def test_unset_fields_take_the_queue_defaults(world):
    (steady,) = await world.add("steady")
    (other,) = await world.add("other")

    job = world.store.jobs[steady]
    assert (job.max_attempts, job.retry, job.lease_duration) == (3, STEADY.retry, 30.0)
    default = world.store.jobs[other]
    assert (default.max_attempts, default.retry, default.lease_duration) == (10, RetryPolicy(), 30.0)
    assert (job.run_at, job.created_at, job.state, job.attempt) == (world.clock.now(), world.clock.now(),
                                                                   JobState.PENDING, 0)


async def test_a_job_overrides_the_queue_defaults_field_by_field(world):
    later = world.clock.now() + timedelta(hours=1)
    (job_id,) = await world.add(max_attempts=7, lease_duration=90.0, run_at=later, priority=-4,
                                retry=RetrySpec(max_delay=500.0, jitter=Jitter.EQUAL),
                                payload=b"p", headers={"a": "b"}, idempotency_key="key")

    job = world.store.jobs[job_id]
    assert job.retry == RetryPolicy(1.0, 500.0, 2.0, Jitter.EQUAL)
    assert (job.max_attempts, job.lease_duration, job.run_at, job.priority) == (7, 90.0, later, -4)
    assert (job.payload, job.headers, job.idempotency_key) == (b"p", {"a": "b"}, "key")


async def test_zero_max_attempts_and_an_empty_key_mean_unset(world):
    (a,) = await world.add(max_attempts=0, idempotency_key="")
    (b,) = await world.add(idempotency_key="")

    assert a != b
    assert world.store.jobs[a].max_attempts == STEADY.max_attempts
    assert world.store.jobs[a].idempotency_key is None


async def test_a_repeated_key_returns_the_existing_job(world):
    (first,) = await world.enqueue([spec(idempotency_key="order-1", payload=b"a")])
    (again,) = await world.enqueue([spec(idempotency_key="order-1", payload=b"b")])

    assert (first.created, again.created, again.job_id) == (True, False, first.job_id)
    assert len(world.store.jobs) == 1 and len(world.sink.events) == 1


async def test_created_jobs_are_recorded_and_their_queues_woken_once(world):
    await world.enqueue([spec(idempotency_key="dup")])
    world.notifier.notified.clear()

    with serving("req-9"):
        inserted = await world.enqueue([spec(queue="b"), spec(queue="a"), spec(queue="b"), spec(idempotency_key="dup")])

    assert [i.created for i in inserted] == [True, True, True, False]
    assert world.notifier.notified == [["a", "b"]]
    events, request_id = world.sink.calls[-1]
    assert request_id == "req-9"
    assert [(e.job_id, e.reason, e.to_state) for e in events] == [
        (i.job_id, Reason.ENQUEUE, JobState.PENDING) for i in inserted[:3]]


async def test_nothing_created_wakes_nobody(world):
    await world.enqueue([spec(idempotency_key="k")])
    world.notifier.notified.clear()

    await world.enqueue([spec(idempotency_key="k")])

    assert world.notifier.notified == []
    assert world.sink.calls[-1] == ([], None)


async def test_a_lease_duration_the_queue_default_breaks_is_refused():
    world = World(queues=QueueConfig(default=QueueDefaults(lease_duration=0.5)))
    await refused(world, [OK], "jobs[0].lease_duration")
    assert len(await world.enqueue([spec(lease_duration=1.0)])) == 1
