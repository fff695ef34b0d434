"""Snooze and progress through the real server: a snooze hands the job back without using an
attempt, fenced like Ack (a repeat OK, a stale token LOST), over unary calls and a session; a
heartbeat's progress is kept, shown by GetJob and the dashboard's API and logged once per change;
bad input is INVALID_ARGUMENT naming the field and changes nothing; the Python SDK's worker does
both against the real broker."""

from __future__ import annotations

import asyncio
import math

import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb, job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import duration, enqueue, lease, ref
from tests.e2e.observe import get_json
from tests.e2e.test_session import Session
from tests.sdk.helpers import running

OK, LOST = pb.LEASE_OUTCOME_OK, pb.LEASE_OUTCOME_LOST


def snooze_item(leased, seconds: float | None = None) -> pb.SnoozeItem:
    item = pb.SnoozeItem(lease=ref(leased))
    if seconds is not None:
        item.delay.CopyFrom(duration(seconds))
    return item


def progress_item(leased, fraction: float, message: str = "") -> pb.HeartbeatItem:
    return pb.HeartbeatItem(lease=ref(leased), progress=job_pb2.Progress(fraction=fraction, message=message))


async def _get(admin, job_id: str) -> apb.GetJobResponse:
    return await admin.GetJob(apb.GetJobRequest(job_id=job_id))


async def test_a_snooze_gives_the_attempt_back_and_a_repeat_is_ok(jobs, admin, queue):
    await enqueue(jobs, queue, 2, max_attempts=1)
    now, later = await lease(jobs, queue, 2)

    response = await jobs.Snooze(pb.SnoozeRequest(items=[snooze_item(now), snooze_item(later, 3600)]))
    repeat = await jobs.Snooze(pb.SnoozeRequest(items=[snooze_item(later, 5)]))

    assert [(r.outcome, r.state) for r in response.results] == [(OK, job_pb2.JOB_STATE_PENDING)] * 2
    assert response.results[1].at.seconds - response.results[0].at.seconds in (3599, 3600, 3601)
    assert repeat.results[0].outcome == OK and repeat.results[0].at == response.results[1].at
    waiting = (await _get(admin, later.job.id)).job
    assert (waiting.state, waiting.attempt, waiting.snoozes, waiting.max_attempts) == (
        job_pb2.JOB_STATE_PENDING, 0, 1, 1)
    (again,) = await lease(jobs, queue, 1)  # the one due now, with the same attempt number
    assert (again.job.id, again.attempt, again.job.snoozes) == (now.job.id, 1, 1)
    stale = await jobs.Snooze(pb.SnoozeRequest(items=[snooze_item(now)]))
    assert stale.results[0].outcome == LOST  # the first lease's token
    await jobs.Nack(pb.NackRequest(items=[pb.NackItem(lease=ref(again), error="boom")]))
    done = await _get(admin, now.job.id)
    assert done.job.state == job_pb2.JOB_STATE_DEAD  # one failure of its one attempt
    assert [e.reason for e in done.events] == ["enqueue", "lease", "snooze", "lease", "nack"]
    assert [e.attempt for e in done.events] == [0, 1, 1, 1, 1]


@pytest.mark.parametrize("seconds, message", [
    (-1, "items[1].delay: must not be negative"),
    (31 * 86400, "items[1].delay: 2678400s is outside 0 to 2592000s"),
])
async def test_a_bad_delay_is_invalid_argument_naming_it_and_snoozes_nothing(jobs, admin, queue, seconds, message):
    await enqueue(jobs, queue, 2)
    first, second = await lease(jobs, queue, 2)
    bad = pb.SnoozeItem(lease=ref(second), delay={"seconds": seconds})

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await jobs.Snooze(pb.SnoozeRequest(items=[snooze_item(first, 1), bad]))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(message)
    assert [(await _get(admin, j.job.id)).job.state for j in (first, second)] == [job_pb2.JOB_STATE_RUNNING] * 2
    await jobs.Ack(pb.AckRequest(leases=[ref(first), ref(second)]))


async def test_progress_is_kept_shown_and_logged_once_per_change(jobs, admin, queue, broker_server):
    await enqueue(jobs, queue, 2)
    plain, reporting = await lease(jobs, queue, 2)

    first = await jobs.Heartbeat(pb.HeartbeatRequest(leases=[ref(plain)],
                                                     items=[progress_item(reporting, 0.4, "4 of 10")]))
    await jobs.Heartbeat(pb.HeartbeatRequest(items=[progress_item(reporting, 0.4, "4 of 10")]))
    await jobs.Heartbeat(pb.HeartbeatRequest(items=[progress_item(reporting, 0.7, "7 of 10")]))

    assert [(r.job_id, r.outcome) for r in first.results] == [(plain.job.id, OK), (reporting.job.id, OK)]
    got = await _get(admin, reporting.job.id)
    assert (got.job.progress.fraction, got.job.progress.message) == (0.7, "7 of 10")
    assert got.job.HasField("progress_at") and not (await _get(admin, plain.job.id)).job.HasField("progress")
    progressed = [(e.progress.fraction, e.progress.message, e.from_state, e.to_state)
                  for e in got.events if e.reason == "progress"]
    assert progressed == [(0.4, "4 of 10", job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_RUNNING),
                          (0.7, "7 of 10", job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_RUNNING)]
    detail = await get_json(broker_server.http_port, f"/api/jobs/{reporting.job.id}")
    assert (detail["job"]["progress"]["fraction"], detail["job"]["progress"]["message"]) == (0.7, "7 of 10")
    assert [e["progress"]["message"] for e in detail["events"] if e["reason"] == "progress"] == ["4 of 10", "7 of 10"]
    await jobs.Ack(pb.AckRequest(leases=[ref(plain), ref(reporting)]))


@pytest.mark.parametrize("fraction, message, field", [
    (-0.5, "", "items[0].progress.fraction"), (1.5, "", "items[0].progress.fraction"),
    (math.nan, "", "items[0].progress.fraction"), (0.5, "x" * 257, "items[0].progress.message"),
])
async def test_bad_progress_is_invalid_argument_naming_it_and_extends_nothing(jobs, admin, queue, fraction,
                                                                             message, field):
    await enqueue(jobs, queue, 1)
    (leased,) = await lease(jobs, queue, 1)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await jobs.Heartbeat(pb.HeartbeatRequest(items=[progress_item(leased, fraction, message)]))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field + ":")
    job = (await _get(admin, leased.job.id)).job
    assert (job.lease_expires_at, job.HasField("progress")) == (leased.lease_expires_at, False)
    await jobs.Ack(pb.AckRequest(leases=[ref(leased)]))


async def test_a_session_snoozes_and_reports_progress(jobs, admin, queue):
    await enqueue(jobs, queue, 1)
    session = Session(jobs)
    [leased] = (await session.ask(lease=pb.LeaseRequest(queues=[queue], worker_id="s", max_jobs=1))).lease.jobs
    beat = await session.ask(heartbeat=pb.HeartbeatRequest(items=[progress_item(leased, 0.5, "half")]))
    snoozed = await session.ask(snooze=pb.SnoozeRequest(items=[snooze_item(leased, 60)]))
    bad = await session.ask(snooze=pb.SnoozeRequest(items=[pb.SnoozeItem(lease=ref(leased), delay={"seconds": -5})]))
    await session.close()

    assert beat.heartbeat.results[0].outcome == OK and snoozed.snooze.results[0].outcome == OK
    assert (bad.error.code, bad.error.message.split(":")[0]) == (grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                                                 "items[0].delay")
    got = await _get(admin, leased.job.id)
    assert [e.reason for e in got.events] == ["enqueue", "lease", "progress", "snooze"]
    assert (got.job.snoozes, got.job.attempt) == (1, 0)
    await admin.CancelJob(apb.CancelJobRequest(job_id=leased.job.id))


@pytest.mark.parametrize("sessions", [True, False], ids=["session", "unary"])
async def test_the_python_sdk_worker_snoozes_and_reports_progress(admin, queue, broker_server, sessions):
    from broker_client import AsyncClient, Snooze, Worker

    worker = Worker(queue, poll_wait=1, flush_interval=0, lease_duration=1.5, session=sessions)
    reported, go_on = asyncio.Event(), asyncio.Event()

    @worker.handler("work")
    async def work(job):
        if job.attempt == 1 and not reported.is_set() and job.json().get("snooze") and not go_on.is_set():
            go_on.set()
            raise Snooze(0)
        job.progress(0.5, "halfway")
        await reported.wait()
        return {"attempt": job.attempt, "snoozes": job.snoozes}

    async with AsyncClient(broker_server.grpc_address) as client:
        job_id = (await client.enqueue(queue, "work", {"snooze": True}, max_attempts=1)).job_id
        async with running(worker, broker_server.grpc_address):
            async def progress_shown():
                return (await _get(admin, job_id)).job.HasField("progress")
            for _ in range(200):
                if await progress_shown():
                    break
                await asyncio.sleep(0.05)
            shown = await client.get_job(job_id)
            assert (shown.progress.fraction, shown.progress.message, shown.snoozes) == (0.5, "halfway", 1)
            reported.set()
            assert await client.wait(job_id, timeout=10) == b'{"attempt":1,"snoozes":1}'
    got = await _get(admin, job_id)
    assert [e.reason for e in got.events] == ["enqueue", "lease", "snooze", "lease", "progress", "ack"]
    assert (got.job.attempt, got.job.snoozes, got.job.state) == (1, 1, job_pb2.JOB_STATE_SUCCEEDED)
    assert [e.progress.message for e in got.events if e.reason == "progress"] == ["halfway"]
