"""The job's life through the real gRPC server and PostgreSQL."""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2

from broker.usecases.reap import ReapExpired
from broker.v1 import admin_service_pb2 as apb
from broker.v1 import admin_service_pb2_grpc, job_pb2, job_service_pb2_grpc
from broker.v1 import job_service_pb2 as pb
from tests.fakes import ShiftedClock
from tests.brokers import running_broker
from tests.e2e.conftest import check_event_log
from tests.e2e.helpers import ack, duration, enqueue, lease, nack, ref, spec

PENDING, RUNNING, SUCCEEDED, DEAD, CANCELLED = (
    job_pb2.JOB_STATE_PENDING, job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_SUCCEEDED,
    job_pb2.JOB_STATE_DEAD, job_pb2.JOB_STATE_CANCELLED)
OK, LOST, NOT_FOUND = pb.LEASE_OUTCOME_OK, pb.LEASE_OUTCOME_LOST, pb.LEASE_OUTCOME_NOT_FOUND


@dataclass
class HandReaped:
    jobs: job_service_pb2_grpc.JobServiceStub
    admin: admin_service_pb2_grpc.AdminServiceStub
    clock: ShiftedClock
    reaper: ReapExpired


@pytest.fixture
async def hand_reaped(own_database, queue, caplog):
    """A broker whose reaper passes only when the test calls `reaper.run_once()` (its loop ran
    once at start, on an empty database, and waits an hour for the next), on a database and a
    clock of its own. A test that moves the session broker's clock and reaps by hand races that
    broker's own reaper (every 0.1 s): when the loop locks the lapsed lease first, the test's pass
    skips it and the test looks before the loop's change is committed."""
    clock = ShiftedClock()
    async with running_broker(own_database, clock=clock, BROKER_REAPER_INTERVAL="3600") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            yield HandReaped(job_service_pb2_grpc.JobServiceStub(channel),
                             admin_service_pb2_grpc.AdminServiceStub(channel), clock, broker.reaper)
    pool = await asyncpg.create_pool(own_database, min_size=1, max_size=1)
    try:
        await check_event_log(pool, queue, caplog.get_records("setup") + caplog.get_records("call"))
    finally:
        await pool.close()


async def get(admin, job_id):
    return await admin.GetJob(apb.GetJobRequest(job_id=job_id))


def stamp(dt: datetime) -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(dt)
    return t


async def test_enqueue_returns_ids_and_the_job_keeps_the_spec(jobs, admin, queue):
    response = await jobs.Enqueue(pb.EnqueueRequest(job=spec(
        queue, kind="email", payload=b"\x00\x01", headers={"trace": "t1"}, priority=3, max_attempts=4,
        lease_duration=duration(5), retry_policy=job_pb2.RetryPolicy(
            initial_delay=duration(2), max_delay=duration(60), multiplier=3, jitter=job_pb2.JITTER_NONE))))
    assert response.created
    job = (await get(admin, response.job_id)).job
    assert (job.queue, job.kind, job.payload, dict(job.headers)) == (queue, "email", b"\x00\x01", {"trace": "t1"})
    assert (job.priority, job.max_attempts, job.state, job.attempt) == (3, 4, PENDING, 0)
    assert job.lease_duration.seconds == 5
    assert (job.retry_policy.initial_delay.seconds, job.retry_policy.max_delay.seconds) == (2, 60)
    assert (job.retry_policy.multiplier, job.retry_policy.jitter) == (3, job_pb2.JITTER_NONE)


async def test_queue_defaults_fill_unset_fields(jobs, admin, queue):
    [job_id] = await enqueue(jobs, queue)
    job = (await get(admin, job_id)).job
    assert (job.max_attempts, job.lease_duration.seconds) == (10, 30)
    assert (job.max_lease_expiries, job.lease_expiries) == (5, 0)
    assert (job.retry_policy.initial_delay.seconds, job.retry_policy.max_delay.seconds) == (1, 3600)
    assert (job.retry_policy.multiplier, job.retry_policy.jitter) == (2, job_pb2.JITTER_FULL)


async def test_batch_enqueue_then_lease_in_priority_then_run_at_order(jobs, queue, clock):
    now = clock.now()
    specs = [
        spec(queue, kind="late-urgent", priority=-5, run_at=stamp(now - timedelta(seconds=1))),
        spec(queue, kind="old-normal", run_at=stamp(now - timedelta(seconds=30))),
        spec(queue, kind="new-normal", run_at=stamp(now - timedelta(seconds=10))),
        spec(queue, kind="future-urgent", priority=-10, run_at=stamp(now + timedelta(hours=1))),
        spec(queue, kind="lazy", priority=7, run_at=stamp(now - timedelta(hours=1))),
    ]
    response = await jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=specs))
    assert len(response.results) == 5 and all(r.created for r in response.results)
    assert len({r.job_id for r in response.results}) == 5
    leased = await lease(jobs, queue, n=10)
    assert [j.job.kind for j in leased] == ["late-urgent", "old-normal", "new-normal", "lazy"]
    await ack(jobs, *leased)


async def test_a_delayed_job_is_leased_once_its_run_at_comes(jobs, queue, clock):
    [job_id] = await enqueue(jobs, queue, run_at=stamp(clock.now() + timedelta(minutes=5)))
    assert await lease(jobs, queue) == []
    clock.advance(301)
    [leased] = await lease(jobs, queue)
    assert leased.job.id == job_id
    await ack(jobs, leased)


async def test_ack_is_fenced_and_repeatable(jobs, admin, queue):
    [job_id] = await enqueue(jobs, queue)
    [leased] = await lease(jobs, queue)
    stale = pb.LeaseRef(job_id=job_id, lease_token="00000000-0000-0000-0000-000000000000")
    result = (await jobs.Ack(pb.AckRequest(leases=[stale]))).results[0]
    assert (result.outcome, result.state) == (LOST, RUNNING)
    for _ in range(2):  # the same call twice: one transition, two OKs
        [result] = await ack(jobs, leased)
        assert (result.outcome, result.state) == (OK, SUCCEEDED)
    history = (await get(admin, job_id)).events
    assert [e.reason for e in history] == ["enqueue", "lease", "ack"]
    unknown = pb.LeaseRef(job_id="11111111-1111-1111-1111-111111111111", lease_token=leased.lease_token)
    assert (await jobs.Ack(pb.AckRequest(leases=[unknown]))).results[0].outcome == NOT_FOUND


async def test_heartbeat_extends_the_lease_and_reports_lost_ones(hand_reaped, queue):
    jobs, clock = hand_reaped.jobs, hand_reaped.clock
    await enqueue(jobs, queue, n=2, retry_policy=job_pb2.RetryPolicy(initial_delay=duration(0)))
    held, lost = await lease(jobs, queue, n=2, lease_duration=duration(10))
    clock.advance(8)
    response = await jobs.Heartbeat(pb.HeartbeatRequest(leases=[ref(held)], lease_duration=duration(10)))
    [beat] = response.results
    assert beat.outcome == OK
    assert beat.at.ToDatetime() > held.lease_expires_at.ToDatetime() + timedelta(seconds=7)
    clock.advance(5)  # `lost` lapsed at +10 s; `held` lives until +18 s
    await hand_reaped.reaper.run_once()
    response = await jobs.Heartbeat(pb.HeartbeatRequest(leases=[ref(held), ref(lost)]))
    assert [r.outcome for r in response.results] == [OK, LOST]
    assert response.results[1].state == PENDING
    await ack(jobs, held)
    [again] = await lease(jobs, queue)
    await ack(jobs, again)


async def test_a_lapsed_lease_is_redelivered_and_the_old_token_refused(hand_reaped, queue):
    jobs, admin, clock = hand_reaped.jobs, hand_reaped.admin, hand_reaped.clock
    [job_id] = await enqueue(jobs, queue, lease_duration=duration(5),
                             retry_policy=job_pb2.RetryPolicy(initial_delay=duration(0)))
    [first] = await lease(jobs, queue)
    clock.advance(6)
    await hand_reaped.reaper.run_once()
    [second] = await lease(jobs, queue, worker="w2")
    assert second.job.id == job_id and second.attempt == 2 and second.lease_token != first.lease_token
    beat = (await jobs.Heartbeat(pb.HeartbeatRequest(leases=[ref(first)]))).results[0]
    assert beat.outcome == LOST
    assert (await ack(jobs, first))[0].outcome == LOST
    assert (await nack(jobs, first))[0].outcome == LOST
    assert (await ack(jobs, second))[0].outcome == OK
    got = await get(admin, job_id)
    assert got.job.state == SUCCEEDED
    assert [e.error for e in got.job.errors] == ["lease expired"]
    assert [e.reason for e in got.events] == ["enqueue", "lease", "expire", "lease", "ack"]


async def test_nack_retries_after_the_backoff(jobs, admin, queue, clock):
    [job_id] = await enqueue(jobs, queue, retry_policy=job_pb2.RetryPolicy(
        initial_delay=duration(10), multiplier=2, jitter=job_pb2.JITTER_NONE))
    [first] = await lease(jobs, queue)
    [result] = await nack(jobs, first, error="smtp timeout")
    assert (result.outcome, result.state) == (OK, PENDING)
    assert abs((result.at.ToDatetime(tzinfo=timezone.utc) - clock.now()).total_seconds() - 10) < 2
    assert (await nack(jobs, first, error="smtp timeout"))[0].outcome == OK  # a repeat: no second change
    assert await lease(jobs, queue) == []
    clock.advance(10.5)
    [second] = await lease(jobs, queue)
    assert second.attempt == 2
    [result] = await nack(jobs, second, error="smtp timeout again")
    assert abs((result.at.ToDatetime(tzinfo=timezone.utc) - clock.now()).total_seconds() - 20) < 2
    clock.advance(20.5)
    [third] = await lease(jobs, queue)
    await ack(jobs, third)
    job = (await get(admin, job_id)).job
    assert [(e.attempt, e.error) for e in job.errors] == [(1, "smtp timeout"), (2, "smtp timeout again")]


async def test_retry_after_overrides_the_backoff(jobs, queue, clock):
    await enqueue(jobs, queue, retry_policy=job_pb2.RetryPolicy(initial_delay=duration(3600)))
    [first] = await lease(jobs, queue)
    await nack(jobs, first, retry_after=duration(0))
    [second] = await lease(jobs, queue)
    assert second.attempt == 2
    await ack(jobs, second)


async def test_used_up_attempts_go_dead_with_every_error_then_redrive(jobs, admin, queue, clock):
    [job_id] = await enqueue(jobs, queue, max_attempts=3, retry_policy=job_pb2.RetryPolicy(
        initial_delay=duration(1), jitter=job_pb2.JITTER_NONE))
    for attempt in (1, 2, 3):
        [leased] = await lease(jobs, queue)
        assert leased.attempt == attempt
        [result] = await nack(jobs, leased, error=f"failure {attempt}")
        clock.advance(10)
    assert result.state == DEAD
    got = await get(admin, job_id)
    assert got.job.state == DEAD
    assert [e.error for e in got.job.errors] == ["failure 1", "failure 2", "failure 3"]
    assert got.job.last_error == "failure 3"
    dead = await admin.ListJobs(apb.ListJobsRequest(queue=queue, state=DEAD))
    assert [j.id for j in dead.jobs] == [job_id]
    redriven = await admin.RedriveJobs(apb.RedriveJobsRequest(job_ids=[job_id]))
    assert (redriven.redriven, list(redriven.job_ids)) == (1, [job_id])
    [leased] = await lease(jobs, queue)
    assert leased.attempt == 1  # a fresh set of attempts, the errors kept
    assert len(leased.job.errors) == 3
    await ack(jobs, leased)


async def test_permanent_failure_goes_straight_to_dead(jobs, admin, queue):
    [job_id] = await enqueue(jobs, queue, max_attempts=5)
    [leased] = await lease(jobs, queue)
    [result] = await nack(jobs, leased, error="bad payload", permanent=True)
    assert (result.outcome, result.state) == (OK, DEAD)
    assert (await get(admin, job_id)).job.attempt == 1


async def test_redrive_a_whole_queue_without_resetting_attempts(jobs, admin, queue):
    ids = await enqueue(jobs, queue, n=3, max_attempts=2)
    for leased in await lease(jobs, queue, n=3):
        await nack(jobs, leased, permanent=True)
    response = await admin.RedriveJobs(apb.RedriveJobsRequest(queue=queue, reset_attempts=False))
    assert sorted(response.job_ids) == sorted(ids)
    leased = await lease(jobs, queue, n=3)
    assert {j.attempt for j in leased} == {2}
    await ack(jobs, *leased)
    assert (await admin.RedriveJobs(apb.RedriveJobsRequest(queue=queue))).redriven == 0


async def test_cancel_a_pending_and_a_running_job(jobs, admin, queue):
    pending_id, running_id = await enqueue(jobs, queue, n=2)
    [running] = await lease(jobs, queue)
    pending_id = pending_id if running.job.id != pending_id else running_id
    for job_id in (pending_id, running.job.id):
        response = await admin.CancelJob(apb.CancelJobRequest(job_id=job_id))
        assert response.job.state == CANCELLED
    again = await admin.CancelJob(apb.CancelJobRequest(job_id=pending_id))  # idempotent
    assert again.job.state == CANCELLED
    beat = (await jobs.Heartbeat(pb.HeartbeatRequest(leases=[ref(running)]))).results[0]
    assert (beat.outcome, beat.state) == (LOST, CANCELLED)
    assert (await ack(jobs, running))[0].outcome == LOST
    assert await lease(jobs, queue) == []


async def test_cancel_refuses_finished_jobs(jobs, admin, queue):
    import grpc
    import pytest

    [job_id] = await enqueue(jobs, queue)
    await ack(jobs, *(await lease(jobs, queue)))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.CancelJob(apb.CancelJobRequest(job_id=job_id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "SUCCEEDED" in err.value.details()


async def test_purge_dead_jobs_by_id_and_by_queue(jobs, admin, db, queue):
    ids = await enqueue(jobs, queue, n=3)
    for leased in await lease(jobs, queue, n=3):
        await nack(jobs, leased, permanent=True)
    assert (await admin.PurgeJobs(apb.PurgeJobsRequest(job_ids=ids[:1]))).purged == 1
    assert (await admin.PurgeJobs(apb.PurgeJobsRequest(queue=queue))).purged == 2
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 0
    assert await db.fetchval("SELECT count(*) FROM broker_events WHERE job_id = ANY($1::uuid[])", ids) == 0


async def test_finished_jobs_are_pruned_after_the_retention(jobs, db, queue, clock, broker_server):
    [job_id] = await enqueue(jobs, queue)
    await ack(jobs, *(await lease(jobs, queue)))
    await broker_server.pruner.run_once()
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE id = $1::uuid", job_id) == 1
    clock.advance(24 * 3600 + 1)
    await broker_server.pruner.run_once()
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE id = $1::uuid", job_id) == 0


async def test_list_jobs_pages_newest_first(jobs, admin, queue):
    ids = []
    for _ in range(5):
        ids += await enqueue(jobs, queue)
    seen, token = [], ""
    while True:
        page = await admin.ListJobs(apb.ListJobsRequest(queue=queue, page_size=2, page_token=token))
        seen += [j.id for j in page.jobs]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[::-1]


async def test_long_poll_returns_when_a_job_arrives(jobs, queue):
    waiting = asyncio.create_task(lease(jobs, queue, wait=duration(30)))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    [job_id] = await enqueue(jobs, queue)
    [leased] = await asyncio.wait_for(waiting, 10)
    assert leased.job.id == job_id
    await ack(jobs, leased)


async def test_long_poll_returns_empty_when_the_wait_ends(jobs, queue):
    assert await lease(jobs, queue, wait=duration(0.3)) == []


async def test_stats_count_states_and_windows(jobs, admin, queue, clock):
    await enqueue(jobs, queue, n=4)
    await enqueue(jobs, queue, run_at=stamp(clock.now() + timedelta(hours=1)))
    a, b, c = await lease(jobs, queue, n=3)
    await ack(jobs, a)
    await nack(jobs, b, retry_after=duration(600))
    await nack(jobs, c, permanent=True)
    [stats] = (await admin.Stats(apb.StatsRequest(queues=[queue]))).queues
    assert (stats.ready, stats.scheduled, stats.retrying, stats.running) == (1, 1, 1, 0)
    assert (stats.succeeded, stats.dead, stats.cancelled) == (1, 1, 0)
    for window in (stats.last_minute, stats.last_hour):
        assert (window.enqueued, window.succeeded, window.failed, window.dead_lettered) == (5, 1, 2, 1)
        assert abs(window.failure_rate - 2 / 3) < 1e-9
    assert stats.oldest_ready_age.ToTimedelta() >= timedelta(0)


async def test_a_job_that_kills_every_worker_ends_dead(hand_reaped, queue):
    jobs, admin, clock = hand_reaped.jobs, hand_reaped.admin, hand_reaped.clock
    [job_id] = await enqueue(jobs, queue, max_attempts=2, lease_duration=duration(5),
                             retry_policy=job_pb2.RetryPolicy(initial_delay=duration(0)))
    for attempt in (1, 2):
        [leased] = await lease(jobs, queue)
        assert leased.attempt == attempt
        clock.advance(6)  # the worker died: no heartbeat, no ack
        await hand_reaped.reaper.run_once()
    got = await get(admin, job_id)
    assert got.job.state == DEAD
    assert [e.error for e in got.job.errors] == ["lease expired", "lease expired"]
    assert [e.reason for e in got.events][-1] == "expire"
    assert await lease(jobs, queue) == []


async def test_a_job_that_crashes_its_workers_goes_dead_before_its_attempts_are_used_up(hand_reaped, queue):
    jobs, admin, clock = hand_reaped.jobs, hand_reaped.admin, hand_reaped.clock
    [job_id] = await enqueue(jobs, queue, max_attempts=10, max_lease_expiries=2, lease_duration=duration(5),
                             retry_policy=job_pb2.RetryPolicy(initial_delay=duration(0)))
    [nacked] = await lease(jobs, queue)
    await nack(jobs, nacked, retry_after=duration(0))  # a handler failure: not counted
    for _ in (1, 2):
        [leased] = await lease(jobs, queue)
        clock.advance(6)  # the worker died: no heartbeat, no ack
        await hand_reaped.reaper.run_once()

    got = await get(admin, job_id)
    poison = "lease expired 2 times (max_lease_expiries 2): poison job"
    assert (got.job.state, got.job.attempt, got.job.max_attempts) == (DEAD, 3, 10)
    assert (got.job.lease_expiries, got.job.max_lease_expiries) == (2, 2)
    assert [e.error for e in got.job.errors] == ["boom", "lease expired", poison]
    assert (got.events[-1].reason, got.events[-1].error, got.job.last_error) == ("expire", poison, poison)
    assert await lease(jobs, queue) == []


async def test_a_lapsed_lease_limit_out_of_range_is_refused(jobs, queue, db):
    for value in (-1, 1001):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await enqueue(jobs, queue, max_lease_expiries=value)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details().startswith("jobs[0].max_lease_expiries: ")
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 0
