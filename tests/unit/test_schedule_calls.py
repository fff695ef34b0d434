"""The schedule interactors on the fakes: create, update, delete, pause, resume, trigger, the
scheduler's pass and the schedules file. Bad input names its field and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.errors import AlreadyExists, FailedPrecondition, InvalidArgument, ScheduleNotFound
from broker.entities.queue import Limits, QueueConfig
from broker.entities.schedule import JobTemplate, MissedFires, ScheduleDefinition
from broker.infra.cron import CroniterParser
from broker.usecases.enqueue import Enqueue
from broker.usecases.schedules.create import CreateSchedule
from broker.usecases.schedules.declare import ApplyDeclared
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.delete import DeleteSchedule
from broker.usecases.schedules.fire_due import FireDue
from broker.usecases.schedules.pause import PauseSchedule
from broker.usecases.schedules.resume import ResumeSchedule
from broker.usecases.schedules.trigger import TriggerSchedule
from broker.usecases.schedules.update import UpdateSchedule
from tests.fakes import InMemoryJobStore, ManualClock, RecordingEventSink, RecordingNotifier
from tests.fakes.schedule_store import InMemoryScheduleStore

T0 = datetime(2030, 1, 1, 11, 59, 30, tzinfo=timezone.utc)
HOURLY = ScheduleDefinition("hourly", "0 * * * *", JobTemplate("reports", "hourly", b"{}"))


class Lags:
    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def fired(self, schedule: str, lag_seconds: float) -> None:
        self.seen.append((schedule, lag_seconds))


@dataclass
class World:
    clock: ManualClock = field(default_factory=lambda: ManualClock(T0))
    jobs: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    schedules: InMemoryScheduleStore = field(default_factory=InMemoryScheduleStore)
    lags: Lags = field(default_factory=Lags)

    def __post_init__(self) -> None:
        self.enqueue = Enqueue(self.jobs, self.clock, RecordingNotifier(), RecordingEventSink(), QueueConfig(),
                               Limits())
        self.definitions = Definitions(CroniterParser(), self.enqueue, 1000)
        self.create = CreateSchedule(self.schedules, self.clock, self.definitions)
        self.update = UpdateSchedule(self.schedules, self.clock, self.definitions)
        self.delete = DeleteSchedule(self.schedules)
        self.pause = PauseSchedule(self.schedules, self.clock)
        self.resume = ResumeSchedule(self.schedules, self.clock, self.definitions)
        self.trigger = TriggerSchedule(self.schedules, self.clock, self.enqueue)
        self.declare = ApplyDeclared(self.schedules, self.clock, self.definitions)
        self.fire = FireDue(self.schedules, self.clock, CroniterParser(), self.enqueue, self.lags)

    def keys(self) -> list[str]:
        return sorted(j.idempotency_key for j in self.jobs.jobs.values())


@pytest.fixture
def world() -> World:
    return World()


async def test_create_sets_the_first_fire_time_after_now(world):
    s = await world.create(HOURLY)
    assert s.next_fire_at == datetime(2030, 1, 1, 12, tzinfo=timezone.utc) and not s.paused
    with pytest.raises(AlreadyExists):
        await world.create(replace(HOURLY, cron="@daily"))
    assert (await world.schedules.get("hourly")).definition.cron == "0 * * * *"


@pytest.mark.parametrize("bad, field_name", [
    (replace(HOURLY, cron="every hour"), "schedule.cron"),
    (replace(HOURLY, cron="0 0 30 2 *"), "schedule.cron"),
    (replace(HOURLY, time_zone="Mars/Olympus"), "schedule.time_zone"),
    (replace(HOURLY, name="no spaces"), "schedule.name"),
    (replace(HOURLY, missed=MissedFires.CATCH_UP, catch_up_limit=-1), "schedule.catch_up_limit"),
    (replace(HOURLY, missed=MissedFires.CATCH_UP, catch_up_limit=1001), "schedule.catch_up_limit"),
    (replace(HOURLY, catch_up_limit=3), "schedule.catch_up_limit"),
    (replace(HOURLY, job=JobTemplate("bad queue!", "k")), "schedule.job.queue"),
    (replace(HOURLY, job=JobTemplate("q", "")), "schedule.job.kind"),
    (replace(HOURLY, job=JobTemplate("q", "k", max_attempts=100_000)), "schedule.job.max_attempts"),
])
async def test_bad_definitions_are_refused_naming_the_field(world, bad, field_name):
    for call in (world.create, world.update):
        with pytest.raises(InvalidArgument) as caught:
            await call(bad)
        assert caught.value.field == field_name, str(caught.value)
    assert world.schedules.rows == {}


async def test_update_keeps_the_next_fire_time_unless_the_when_changes(world):
    await world.create(HOURLY)
    world.clock.advance(10)
    s = await world.update(replace(HOURLY, job=JobTemplate("other", "k")))
    assert s.next_fire_at == datetime(2030, 1, 1, 12, tzinfo=timezone.utc) and s.definition.job.queue == "other"
    s = await world.update(replace(HOURLY, cron="30 * * * *"))
    assert s.next_fire_at == datetime(2030, 1, 1, 12, 30, tzinfo=timezone.utc)
    with pytest.raises(ScheduleNotFound):
        await world.update(replace(HOURLY, name="nope"))


async def test_pause_stops_fires_and_resume_skips_what_fell_due(world):
    await world.create(HOURLY)
    await world.pause("hourly")
    world.clock.advance(3 * 3600)
    assert await world.fire.run_once() == 0 and world.keys() == []
    s = await world.resume("hourly")
    assert s.next_fire_at == datetime(2030, 1, 1, 15, tzinfo=timezone.utc)
    for call in (world.pause, world.resume, world.delete):
        with pytest.raises(ScheduleNotFound):
            await call("nope")


async def test_a_pass_fires_each_due_time_once_with_its_lag(world):
    await world.create(HOURLY)
    assert await world.fire.run_once() == 0
    world.clock.advance(32)  # 12:00:02
    assert await world.fire.run_once() == 1
    assert world.keys() == ["schedule:hourly:2030-01-01T12:00:00+00:00"]
    assert world.lags.seen == [("hourly", 2.0)]
    s = await world.schedules.get("hourly")
    (job,) = world.jobs.jobs.values()
    assert (s.next_fire_at, s.last_fire_at, s.last_job_id) == (
        datetime(2030, 1, 1, 13, tzinfo=timezone.utc), datetime(2030, 1, 1, 12, tzinfo=timezone.utc), job.id)
    assert (job.queue, job.kind, job.payload) == ("reports", "hourly", b"{}")
    assert await world.fire.run_once() == 0 and len(world.jobs.jobs) == 1


async def test_a_pass_done_again_makes_no_second_job(world):
    """A replica that fired and died before advancing: the next one enqueues the same keys."""
    await world.create(HOURLY)
    world.clock.advance(31)
    before = await world.schedules.get("hourly")
    await world.fire.run_once()
    world.schedules.rows["hourly"] = before  # as if the advance had never happened
    world.clock.advance(31)
    await world.fire.run_once()
    assert world.keys() == ["schedule:hourly:2030-01-01T12:00:00+00:00"]
    assert len(world.lags.seen) == 1  # the lag is measured once, by the pass that created the job


@pytest.mark.parametrize("policy, limit, expected", [
    (MissedFires.SKIP, 0, []),
    (MissedFires.RUN_ONCE, 0, ["16"]),
    (MissedFires.CATCH_UP, 2, ["15", "16"]),
])
async def test_missed_fires_after_downtime_follow_the_policy(world, policy, limit, expected):
    await world.create(replace(HOURLY, missed=policy, catch_up_limit=limit))
    world.clock.set(datetime(2030, 1, 1, 16, 5, tzinfo=timezone.utc))  # down from before 12:00 to 16:05
    await world.fire.run_once()
    assert world.keys() == [f"schedule:hourly:2030-01-01T{h}:00:00+00:00" for h in expected]
    assert (await world.schedules.get("hourly")).next_fire_at == datetime(2030, 1, 1, 17, tzinfo=timezone.utc)


async def test_trigger_enqueues_now_and_keeps_the_fire_times(world):
    await world.create(HOURLY)
    await world.pause("hourly")
    job_id, s = await world.trigger("hourly")
    assert s.last_job_id == job_id and s.paused and s.next_fire_at == datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    assert world.jobs.jobs[job_id].queue == "reports"
    with pytest.raises(ScheduleNotFound):
        await world.trigger("nope")


async def test_the_file_owns_its_schedules(world):
    await world.create(replace(HOURLY, name="api-made"))
    changes = await world.declare([HOURLY, replace(HOURLY, name="daily", cron="@daily")])
    assert changes.created == ("daily", "hourly")
    assert (await world.declare([HOURLY, replace(HOURLY, name="daily", cron="@daily")])).created == ()
    for call, args in ((world.update, (HOURLY,)), (world.delete, ("hourly",))):
        with pytest.raises(FailedPrecondition, match="BROKER_SCHEDULES_FILE"):
            await call(*args)
    assert (await world.pause("hourly")).paused  # pause and trigger are for any schedule
    changes = await world.declare([HOURLY])
    assert changes.deleted == ("daily",)
    assert sorted(world.schedules.rows) == ["api-made", "hourly"]


async def test_a_bad_file_entry_refuses_the_whole_file(world):
    with pytest.raises(InvalidArgument) as caught:
        await world.declare([HOURLY, replace(HOURLY, name="x", time_zone="Nowhere/City")])
    assert caught.value.field == "schedules[1].time_zone"
    with pytest.raises(InvalidArgument) as caught:
        await world.declare([HOURLY, HOURLY])
    assert caught.value.field == "schedules[1].name"
    assert world.schedules.rows == {}


async def test_a_name_no_schedule_can_have_is_bad_input(world):
    """Found by the RPC fuzzer: a NUL byte in a name reached PostgreSQL (INTERNAL)."""
    for call in (world.pause, world.resume, world.trigger, world.delete):
        with pytest.raises(InvalidArgument) as caught:
            await call("bad\x00name")
        assert caught.value.field == "name"
