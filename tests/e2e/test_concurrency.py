"""Concurrent leasers never share a job; concurrent duplicates enqueue one job."""

import asyncio
from collections import Counter

from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import ack, spec


async def test_eight_concurrent_leasers_over_2000_jobs_each_leased_once(jobs, queue):
    for start in range(0, 2000, 500):
        await jobs.EnqueueBatch(pb.EnqueueBatchRequest(
            jobs=[spec(queue, payload=str(i).encode()) for i in range(start, start + 500)]))
    leased_ids: list[str] = []

    async def leaser(n: int) -> None:
        while True:
            got = (await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id=f"w{n}", max_jobs=25))).jobs
            if not got:
                return
            leased_ids.extend(j.job.id for j in got)
            results = await ack(jobs, *got)
            assert all(r.outcome == pb.LEASE_OUTCOME_OK for r in results)

    await asyncio.gather(*(leaser(n) for n in range(8)))
    counts = Counter(leased_ids)
    assert len(counts) == 2000
    assert set(counts.values()) == {1}


async def test_racing_duplicate_enqueues_create_one_job(jobs, admin, queue, db):
    request = pb.EnqueueRequest(job=spec(queue, idempotency_key="order-42"))
    responses = await asyncio.gather(*(jobs.Enqueue(request) for _ in range(20)))
    assert len({r.job_id for r in responses}) == 1
    assert sum(r.created for r in responses) == 1
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 1
    batch = await jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[
        spec(queue, idempotency_key="order-42"), spec(queue, idempotency_key="order-43"),
        spec(queue, idempotency_key="order-43")]))
    assert [r.created for r in batch.results] == [False, True, False]
    assert batch.results[0].job_id == responses[0].job_id
    assert batch.results[1].job_id == batch.results[2].job_id


async def test_the_same_key_on_another_queue_is_another_job(jobs, queue):
    first = await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, idempotency_key="k")))
    other = await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue + "-other", idempotency_key="k")))
    assert first.created and other.created and first.job_id != other.job_id


async def test_a_dead_job_still_holds_its_key(jobs, queue):
    first = await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, idempotency_key="once")))
    leased = (await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1))).jobs[0]
    await jobs.Nack(pb.NackRequest(items=[pb.NackItem(
        lease=pb.LeaseRef(job_id=leased.job.id, lease_token=leased.lease_token), permanent=True)]))
    again = await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, idempotency_key="once")))
    assert (again.job_id, again.created) == (first.job_id, False)
    assert job_pb2.JOB_STATE_DEAD  # the key names the dead job, which an operator can redrive
