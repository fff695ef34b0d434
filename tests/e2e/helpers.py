"""Small builders for requests, shared by the end-to-end tests."""

from __future__ import annotations

from google.protobuf import duration_pb2

from broker.v1 import job_pb2, job_service_pb2 as pb


def spec(queue: str, kind: str = "work", payload: bytes = b"{}", **fields) -> job_pb2.JobSpec:
    return job_pb2.JobSpec(queue=queue, kind=kind, payload=payload, **fields)


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


async def enqueue(jobs, queue: str, n: int = 1, **fields) -> list[str]:
    response = await jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue, **fields) for _ in range(n)]))
    return [r.job_id for r in response.results]


async def lease(jobs, queue: str, n: int = 1, worker: str = "w1", **fields) -> list:
    response = await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id=worker, max_jobs=n, **fields))
    return list(response.jobs)


def ref(leased) -> pb.LeaseRef:
    return pb.LeaseRef(job_id=leased.job.id, lease_token=leased.lease_token)


async def ack(jobs, *leased) -> list:
    return list((await jobs.Ack(pb.AckRequest(leases=[ref(l) for l in leased]))).results)


async def nack(jobs, leased, error: str = "boom", **fields) -> list:
    item = pb.NackItem(lease=ref(leased), error=error, **fields)
    return list((await jobs.Nack(pb.NackRequest(items=[item]))).results)
