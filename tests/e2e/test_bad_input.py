"""Every RPC refuses bad input with the right status, a message naming the field, and no change."""

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from broker.v1 import admin_service_pb2 as apb
from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import duration, enqueue, lease, nack, spec

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
UNKNOWN_ID = "0b5e3a52-0000-4000-8000-000000000000"


def neg(seconds: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds)


def cases(q: str, job_id: str, token: str):
    ref = pb.LeaseRef(job_id=job_id, lease_token=token)
    too_far = timestamp_pb2.Timestamp(seconds=253402300800 + 10)  # past year 9999
    enqueue_cases = [
        (pb.EnqueueRequest(), "job"),
        (pb.EnqueueRequest(job=spec("")), "job.queue"),
        (pb.EnqueueRequest(job=spec("bad name!")), "job.queue"),
        (pb.EnqueueRequest(job=spec("q" * 129)), "job.queue"),
        (pb.EnqueueRequest(job=spec(q, kind="")), "job.kind"),
        (pb.EnqueueRequest(job=spec(q, payload=b"x" * (1024 * 1024 + 1))), "job.payload"),
        (pb.EnqueueRequest(job=spec(q, max_attempts=1001)), "job.max_attempts"),
        (pb.EnqueueRequest(job=spec(q, max_attempts=-1)), "job.max_attempts"),
        (pb.EnqueueRequest(job=spec(q, lease_duration=duration(0.5))), "job.lease_duration"),
        (pb.EnqueueRequest(job=spec(q, lease_duration=duration(13 * 3600))), "job.lease_duration"),
        (pb.EnqueueRequest(job=spec(q, lease_duration=neg(-5))), "job.lease_duration"),
        (pb.EnqueueRequest(job=spec(q, lease_duration=neg(10**12))), "job.lease_duration"),
        (pb.EnqueueRequest(job=spec(q, idempotency_key="k" * 300)), "job.idempotency_key"),
        (pb.EnqueueRequest(job=spec(q, run_at=too_far)), "job.run_at"),
        (pb.EnqueueRequest(job=spec(q, retry_policy=job_pb2.RetryPolicy(initial_delay=neg(-1)))),
         "job.retry_policy.initial_delay"),
        (pb.EnqueueRequest(job=spec(q, retry_policy=job_pb2.RetryPolicy(
            initial_delay=duration(10), max_delay=duration(5)))), "job.retry_policy.max_delay"),
        (pb.EnqueueRequest(job=spec(q, retry_policy=job_pb2.RetryPolicy(multiplier=0.5))),
         "job.retry_policy.multiplier"),
        (pb.EnqueueRequest(job=spec(q, retry_policy=job_pb2.RetryPolicy(jitter=42))), "job.retry_policy.jitter"),
    ]
    batch_cases = [
        (pb.EnqueueBatchRequest(), "jobs"),
        (pb.EnqueueBatchRequest(jobs=[spec(q)] * 1001), "jobs"),
        (pb.EnqueueBatchRequest(jobs=[spec(q), spec("no good"), spec(q)]), "jobs[1].queue"),
    ]
    lease_cases = [
        (pb.LeaseRequest(worker_id="w", max_jobs=1), "queues"),
        (pb.LeaseRequest(queues=["a/b"], worker_id="w", max_jobs=1), "queues[0]"),
        # 101 names (the default bound is 100), refused before any name is looked at.
        (pb.LeaseRequest(queues=[q] * 100 + ["a/b"], worker_id="w", max_jobs=1), "at most 100"),
        (pb.LeaseRequest(queues=[f"q{i}" for i in range(200_000)], worker_id="w", max_jobs=1, wait=duration(5)),
         "200000 queue names; at most 100"),
        (pb.LeaseRequest(queues=[q], max_jobs=1), "worker_id"),
        (pb.LeaseRequest(queues=[q], worker_id="w", max_jobs=0), "max_jobs"),
        (pb.LeaseRequest(queues=[q], worker_id="w", max_jobs=1001), "max_jobs"),
        (pb.LeaseRequest(queues=[q], worker_id="w", max_jobs=-3), "max_jobs"),
        (pb.LeaseRequest(queues=[q], worker_id="w", max_jobs=1, lease_duration=duration(0.2)), "lease_duration"),
        (pb.LeaseRequest(queues=[q], worker_id="w", max_jobs=1, wait=duration(61)), "wait"),
        (pb.LeaseRequest(queues=[q], worker_id="w", max_jobs=1, wait=neg(-1)), "wait"),
    ]
    lease_call_cases = [
        ("Heartbeat", pb.HeartbeatRequest(), "leases"),
        ("Heartbeat", pb.HeartbeatRequest(leases=[pb.LeaseRef(job_id="42", lease_token=token)]), "leases[0].job_id"),
        ("Heartbeat", pb.HeartbeatRequest(leases=[pb.LeaseRef(job_id=job_id)]), "leases[0].lease_token"),
        ("Heartbeat", pb.HeartbeatRequest(leases=[ref], lease_duration=duration(86400)), "lease_duration"),
        ("Ack", pb.AckRequest(), "leases"),
        ("Ack", pb.AckRequest(leases=[ref, pb.LeaseRef(job_id="x", lease_token=token)]), "leases[1].job_id"),
        ("Nack", pb.NackRequest(), "items"),
        ("Nack", pb.NackRequest(items=[pb.NackItem(lease=pb.LeaseRef(job_id="", lease_token=token))]), "items[0].lease.job_id"),
        ("Nack", pb.NackRequest(items=[pb.NackItem(lease=ref, retry_after=neg(-1))]), "items[0].retry_after"),
        ("Snooze", pb.SnoozeRequest(items=[pb.SnoozeItem(lease=ref), pb.SnoozeItem(lease=pb.LeaseRef(job_id=job_id))]),
         "items[1].lease.lease_token"),
    ]
    admin_cases = [
        ("GetJob", apb.GetJobRequest(job_id="not-a-uuid"), INVALID, "job_id"),
        ("GetJob", apb.GetJobRequest(job_id=UNKNOWN_ID), NOT_FOUND, UNKNOWN_ID),
        ("ListJobs", apb.ListJobsRequest(queue="bad queue"), INVALID, "queue"),
        ("ListJobs", apb.ListJobsRequest(page_size=5000), INVALID, "page_size"),
        ("ListJobs", apb.ListJobsRequest(page_token="garbage!"), INVALID, "page_token"),
        ("ListJobs", apb.ListJobsRequest(state=99), INVALID, "state"),
        ("Stats", apb.StatsRequest(queues=["bad queue"]), INVALID, "queues[0]"),
        ("Stats", apb.StatsRequest(queues=[f"q{i}" for i in range(101)]), INVALID, "101 queue names; at most 100"),
        ("RedriveJobs", apb.RedriveJobsRequest(), INVALID, "job_ids"),
        ("RedriveJobs", apb.RedriveJobsRequest(job_ids=[job_id], queue=q), INVALID, "job_ids"),
        ("RedriveJobs", apb.RedriveJobsRequest(job_ids=["nope"]), INVALID, "job_ids[0]"),
        ("CancelJob", apb.CancelJobRequest(job_id="nope"), INVALID, "job_id"),
        ("CancelJob", apb.CancelJobRequest(job_id=UNKNOWN_ID), NOT_FOUND, UNKNOWN_ID),
        ("PurgeJobs", apb.PurgeJobsRequest(), INVALID, "job_ids"),
        ("PurgeJobs", apb.PurgeJobsRequest(queue=q, state=job_pb2.JOB_STATE_RUNNING), INVALID, "state"),
    ]
    return ([("Enqueue", r, INVALID, f) for r, f in enqueue_cases]
            + [("EnqueueBatch", r, INVALID, f) for r, f in batch_cases]
            + [("Lease", r, INVALID, f) for r, f in lease_cases]
            + [(m, r, INVALID, f) for m, r, f in lease_call_cases]
            + admin_cases)


async def snapshot(db, queue: str):
    jobs = await db.fetch("SELECT * FROM broker_jobs WHERE queue = $1 ORDER BY id", queue)
    events = await db.fetch("SELECT * FROM broker_events WHERE queue = $1 ORDER BY id", queue)
    return [tuple(r) for r in jobs], [tuple(r) for r in events]


async def test_every_rpc_refuses_bad_input_and_changes_nothing(jobs, admin, db, queue):
    await enqueue(jobs, queue, n=3, lease_duration=duration(3600))
    running, dead = await lease(jobs, queue, n=2)
    await nack(jobs, dead, permanent=True)
    before = await snapshot(db, queue)
    total_before = await db.fetchval("SELECT count(*) FROM broker_jobs")
    checked = 0
    for method, request, code, field in cases(queue, running.job.id, running.lease_token):
        stub = admin if hasattr(admin, method) else jobs
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await getattr(stub, method)(request)
        assert err.value.code() == code, (method, field, err.value.details())
        assert field in err.value.details(), (method, field, err.value.details())
        checked += 1
    assert checked >= 50
    assert await snapshot(db, queue) == before
    assert await db.fetchval("SELECT count(*) FROM broker_jobs") == total_before
