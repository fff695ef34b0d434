"""Snooze and progress through the interactors (usecases/snooze.py, usecases/heartbeat.py): what
changes, what is logged, and bad input refused naming the field with nothing changed."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState, Reason
from broker.entities.lease import LeaseRef, Outcome
from broker.entities.progress import Progress
from broker.infra import settings
from broker.usecases.heartbeat import HeartbeatItem
from broker.usecases.snooze import SnoozeItem
from tests.unit.conftest import World


async def _running(world: World, count: int = 1) -> list[LeaseRef]:
    await world.add(count=count)
    return [LeaseRef(job.id, job.lease_token) for job in await world.take(count=count)]


async def test_snooze_gives_the_attempt_back_and_a_due_job_wakes_long_polls(world):
    soon, later = await _running(world, 2)

    results = await world.snooze([SnoozeItem(soon, 0.0), SnoozeItem(later, 90.0)])

    assert [(r.outcome, r.state, r.at) for r in results] == [
        (Outcome.OK, JobState.PENDING, world.clock.now()),
        (Outcome.OK, JobState.PENDING, world.clock.now() + timedelta(seconds=90))]
    assert [(e.reason, e.attempt) for e in world.sink.events[-2:]] == [(Reason.SNOOZE, 1), (Reason.SNOOZE, 1)]
    assert world.notifier.notified[-1] == ["steady"]  # the one due now
    job = world.store.jobs[soon.job_id]
    assert (job.attempt, job.snoozes, job.max_attempts) == (0, 1, 3)
    (again,) = await world.take()
    assert (again.id, again.attempt) == (soon.job_id, 1)


async def test_a_repeated_snooze_is_ok_and_a_stale_one_lost(world):
    (ref,) = await _running(world)
    await world.snooze([SnoozeItem(ref, 60.0)])
    stale = LeaseRef(ref.job_id, "0" * 32)

    repeat, lost = await world.snooze([SnoozeItem(ref, 5.0), SnoozeItem(stale, 5.0)])

    assert (repeat.outcome, lost.outcome) == (Outcome.OK, Outcome.LOST)
    assert world.store.jobs[ref.job_id].snoozes == 1


@pytest.mark.parametrize("delay, message", [(-1.0, "-1s is outside 0 to 2592000s"),
                                            (31 * 86400.0, "2678400s is outside 0 to 2592000s")])
async def test_a_bad_delay_is_refused_naming_it_and_snoozes_nothing(world, delay, message):
    first, second = await _running(world, 2)
    with pytest.raises(InvalidArgument, match=message) as caught:
        await world.snooze([SnoozeItem(first, 1.0), SnoozeItem(second, delay)])
    assert caught.value.field == "items[1].delay"
    assert {j.state for j in world.store.jobs.values()} == {JobState.RUNNING}


async def test_the_snooze_bound_is_a_setting():
    world = World(limits=settings.load({"BROKER_MAX_SNOOZE": "10"}).limits)
    (ref,) = await _running(world)
    with pytest.raises(InvalidArgument, match="11s is outside 0 to 10s"):
        await world.snooze([SnoozeItem(ref, 11.0)])
    assert (await world.snooze([SnoozeItem(ref, 10.0)]))[0].outcome is Outcome.OK


async def test_progress_is_kept_and_logged_once_per_change(world):
    plain, reporting = await _running(world, 2)
    half = Progress(0.5, "halfway")

    results = await world.heartbeat([plain], None, [HeartbeatItem(reporting, half)])
    await world.heartbeat([], None, [HeartbeatItem(reporting, Progress(0.5, "halfway"))])

    assert [(r.job_id, r.outcome) for r in results] == [(plain.job_id, Outcome.OK), (reporting.job_id, Outcome.OK)]
    progressed = [e for e in world.sink.events if e.reason is Reason.PROGRESS]
    assert [(e.job_id, e.progress.fraction, e.progress.message) for e in progressed] == [
        (reporting.job_id, 0.5, "halfway")]
    job, history = await world.get_job(reporting.job_id)
    assert (job.progress.fraction, job.progress.message, job.progress.at) == (0.5, "halfway", world.clock.now())
    assert history[-1].reason is Reason.PROGRESS
    assert world.store.jobs[plain.job_id].progress is None


@pytest.mark.parametrize("progress, field", [
    (Progress(-0.01), "items[0].progress.fraction"), (Progress(1.01), "items[0].progress.fraction"),
    (Progress(math.nan), "items[0].progress.fraction"), (Progress(math.inf), "items[0].progress.fraction"),
    (Progress(0.5, "x" * 257), "items[0].progress.message"), (Progress(0.5, "a\x00b"), "items[0].progress.message"),
])
async def test_bad_progress_is_refused_naming_the_field_and_extends_nothing(world, progress, field):
    (ref,) = await _running(world)
    before = world.store.jobs[ref.job_id]
    world.clock.advance(5)
    with pytest.raises(InvalidArgument) as caught:
        await world.heartbeat([], None, [HeartbeatItem(ref, progress)])
    assert caught.value.field == field
    assert world.store.jobs[ref.job_id] == before


async def test_the_progress_message_bound_is_a_setting():
    world = World(limits=settings.load({"BROKER_MAX_PROGRESS_CHARS": "3"}).limits)
    (ref,) = await _running(world)
    with pytest.raises(InvalidArgument, match="4 characters; at most 3"):
        await world.heartbeat([], None, [HeartbeatItem(ref, Progress(0.1, "four"))])
    assert (await world.heartbeat([], None, [HeartbeatItem(ref, Progress(0.1, "two"))]))[0].outcome is Outcome.OK
