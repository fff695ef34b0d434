"""Schedules (cron) through the real gRPC server: the calls, bad input, firing by the broker's
clock (moved, never slept through), the fire-lag metric, and three replicas firing one schedule."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb
from broker.v1 import admin_service_pb2_grpc, job_pb2
from tests.fakes import ShiftedClock
from tests.brokers import running_broker
from tests.e2e.observe import get_json, scrape


def spec(name: str, queue: str, cron: str = "0 * * * *", **fields) -> apb.ScheduleSpec:
    job = fields.pop("job", None) or job_pb2.JobSpec(queue=queue, kind="report", payload=b'{"n": 1}',
                                                      headers={"from": "cron"}, priority=-2, max_attempts=3)
    return apb.ScheduleSpec(name=name, cron=cron, job=job, **fields)


@pytest.fixture
def name() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


async def names(admin) -> set[str]:
    return {s.spec.name for s in (await admin.ListSchedules(apb.ListSchedulesRequest())).schedules}


async def test_a_schedule_fires_once_per_fire_time_by_the_brokers_clock(admin, clock, queue, name, db,
                                                                         broker_server):
    made = (await admin.CreateSchedule(apb.CreateScheduleRequest(
        schedule=spec(name, queue, "*/10 * * * *", time_zone="Europe/Berlin")))).schedule
    first = made.next_fire_at.ToDatetime(tzinfo=timezone.utc)
    assert first > clock.now() and first.minute % 10 == 0 and made.spec.job.priority == -2
    try:
        clock.advance((first - clock.now()).total_seconds() + 3)  # 3 s past the fire time
        await broker_server.scheduler.run_once()
        await broker_server.scheduler.run_once()  # nothing more is due
        rows = await db.fetch("SELECT id::text, idempotency_key, kind, priority, headers::text FROM broker_jobs "
                              "WHERE queue = $1", queue)
        assert [(r[1], r[2], r[3]) for r in rows] == [(f"schedule:{name}:{first.isoformat()}", "report", -2)]
        got = (await admin.GetSchedule(apb.GetScheduleRequest(name=name))).schedule
        assert got.last_job_id == rows[0][0]
        assert got.last_fire_at.ToDatetime(tzinfo=timezone.utc) == first
        assert got.next_fire_at.ToDatetime(tzinfo=timezone.utc) == first + timedelta(minutes=10)

        _, samples = await scrape(broker_server.http_port)
        assert samples.get_value("broker_schedule_fire_lag_seconds_count", schedule=name) == 1
        assert samples.get_value("broker_schedule_fire_lag_seconds_bucket", schedule=name, le="5.0") == 1
        assert samples.get_value("broker_schedule_fire_lag_seconds_bucket", schedule=name, le="2.0") == 0

        listed = (await get_json(broker_server.http_port, "/api/schedules"))["schedules"]
        (row,) = [s for s in listed if s["name"] == name]
        assert (row["cron"], row["time_zone"], row["queue"], row["last_job_id"], row["paused"]) == (
            "*/10 * * * *", "Europe/Berlin", queue, rows[0][0], False)
        assert row["next_fire_at"] == (first + timedelta(minutes=10)).isoformat()
    finally:
        await admin.DeleteSchedule(apb.DeleteScheduleRequest(name=name))


async def test_pause_resume_trigger_and_delete(admin, clock, queue, name, db, broker_server):
    await admin.CreateSchedule(apb.CreateScheduleRequest(schedule=spec(name, queue, "@hourly"), paused=True))
    clock.advance(2 * 3600)
    await broker_server.scheduler.run_once()
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 0
    triggered = await admin.TriggerSchedule(apb.TriggerScheduleRequest(name=name))
    assert triggered.schedule.paused and triggered.schedule.last_job_id == triggered.job_id
    resumed = (await admin.ResumeSchedule(apb.ResumeScheduleRequest(name=name))).schedule
    assert not resumed.paused and resumed.next_fire_at.ToDatetime(tzinfo=timezone.utc) > clock.now()
    assert (await admin.PauseSchedule(apb.PauseScheduleRequest(name=name))).schedule.paused
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.CreateSchedule(apb.CreateScheduleRequest(schedule=spec(name, queue)))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    await admin.DeleteSchedule(apb.DeleteScheduleRequest(name=name))
    for call, request in ((admin.GetSchedule, apb.GetScheduleRequest), (admin.PauseSchedule, apb.PauseScheduleRequest),
                          (admin.TriggerSchedule, apb.TriggerScheduleRequest)):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request(name=name))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 1


@pytest.mark.parametrize("change, field_name", [
    ({"cron": "every day"}, "schedule.cron"),
    ({"cron": "0 0 30 2 *"}, "schedule.cron"),
    ({"time_zone": "Mars/Olympus"}, "schedule.time_zone"),
    ({"missed": apb.MISSED_FIRES_CATCH_UP, "catch_up_limit": -1}, "schedule.catch_up_limit"),
    ({"job": job_pb2.JobSpec(queue="no spaces!", kind="k")}, "schedule.job.queue"),
    ({"job": job_pb2.JobSpec(queue="q", kind="k", idempotency_key="mine")}, "schedule.job.idempotency_key"),
    ({"name": "bad name"}, "schedule.name"),
])
async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(admin, queue, name, change, field_name):
    before = await names(admin)
    fields = {"name": name, **change}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.CreateSchedule(apb.CreateScheduleRequest(schedule=spec(fields.pop("name"), queue, **fields)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field_name + ": "), caught.value.details()
    assert await names(admin) == before


@pytest.mark.slow
async def test_three_replicas_make_one_job_per_fire_time(own_database, queue, name):
    clock = ShiftedClock()
    async with running_broker(own_database, clock, BROKER_SCHEDULER_INTERVAL="0.02") as one, \
            running_broker(own_database, clock, BROKER_SCHEDULER_INTERVAL="0.02") as two, \
            running_broker(own_database, clock, BROKER_SCHEDULER_INTERVAL="0.02") as three:
        async with grpc.aio.insecure_channel(one.grpc_address) as channel:
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            await admin.CreateSchedule(apb.CreateScheduleRequest(schedule=spec(name, queue, "* * * * * *")))
            replicas = (one, two, three)
            for _ in range(40):  # 40 steps of 0.5 s to 2.5 s: the loops race, and so do the passes here
                clock.advance(0.5 + _ % 5 * 0.5)
                await asyncio.gather(*(r.scheduler.run_once() for r in replicas for _ in range(2)))
            # A pass still under way (the brokers' own loops race these) may hold the schedule: let
            # the passes catch up with the clock before pausing, however slow the machine is.
            for _ in range(100):
                got = (await admin.GetSchedule(apb.GetScheduleRequest(name=name))).schedule
                if got.next_fire_at.ToDatetime(tzinfo=timezone.utc) > clock.now():
                    break
                await asyncio.gather(*(r.scheduler.run_once() for r in replicas))
                await asyncio.sleep(0.05)
            await admin.PauseSchedule(apb.PauseScheduleRequest(name=name))
            last = (await admin.GetSchedule(apb.GetScheduleRequest(name=name))).schedule.last_fire_at.ToDatetime(
                tzinfo=timezone.utc)
    conn = await asyncpg.connect(own_database)
    try:
        keys = [r[0] for r in await conn.fetch("SELECT idempotency_key FROM broker_jobs WHERE queue = $1", queue)]
        enqueued = await conn.fetchval("SELECT count(*) FROM broker_events WHERE queue = $1 AND reason = 'enqueue'",
                                       queue)
    finally:
        await conn.close()
    times = sorted(datetime.fromisoformat(k.split(":", 2)[2]) for k in keys)  # schedule:<name>:<fire time>
    assert len(keys) == len(set(keys)) == enqueued  # one job, and one enqueue, per fire time
    assert len(times) > 50 and times[-1] == last
    assert all(b - a == timedelta(seconds=1) for a, b in zip(times, times[1:]))  # none missed, none twice


async def test_the_schedules_commands(queue, name, db, broker_server):
    from tests.e2e.test_cli_ops import broker_cli

    target = broker_server.grpc_address
    code, out, err = await broker_cli("schedules", "create", name, "--cron", "30 2 * * *", "--queue", queue,
                                      "--kind", "nightly", "--time-zone", "America/New_York", "--missed",
                                      "catch_up", "--catch-up-limit", "2", target=target)
    assert code == 0, err
    try:
        code, out, err = await broker_cli("schedules", "list", target=target)
        (line,) = [line for line in out.splitlines() if line.startswith(name + " ")]
        cells = [c for c in line.split("  ") if c]  # the cron expression has single spaces inside
        assert [c.strip() for c in cells[:7]] == [name, "30 2 * * *", "America/New_York", queue, "nightly",
                                                  "catch_up(2)", "no"]
        code, out, err = await broker_cli("schedules", "trigger", name, target=target)
        assert code == 0 and out.startswith("enqueued job "), err
        job_id = out.split()[-1]
        assert await db.fetchval("SELECT queue FROM broker_jobs WHERE id = $1::uuid", job_id) == queue
        code, out, _ = await broker_cli("schedules", "show", name, target=target)
        assert f"last job   {job_id}" in out and "catch-up   2" in out
        code, _, err = await broker_cli("schedules", "create", name, "--cron", "bad cron", "--queue", queue,
                                        "--kind", "k", target=target)
        assert code == 1 and "schedule.cron" in err
    finally:
        code, out, err = await broker_cli("schedules", "delete", name, target=target)
    assert code == 0 and out.strip() == f"deleted schedule {name}", err
    code, _, err = await broker_cli("schedules", "pause", name, target=target)
    assert code == 1 and "not found" in err
