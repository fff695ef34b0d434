"""Request building shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone

from .jobs import EnqueueResult, JobRequest
from .v1 import job_service_pb2

# The jobs per EnqueueBatch call a producer sends unless told otherwise (its ``max_batch``):
# the broker's default limit (BROKER_MAX_BATCH). A broker with a lower limit answers larger
# calls INVALID_ARGUMENT, so a producer of it is given that broker's value.
DEFAULT_MAX_BATCH = 1000


def check_max_batch(max_batch: int) -> int:
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be a whole number of at least 1, got {max_batch!r}")
    return max_batch


def enqueue_request(job: JobRequest) -> job_service_pb2.EnqueueRequest:
    return job_service_pb2.EnqueueRequest(job=job.to_spec(datetime.now(timezone.utc)))


def batch_requests(jobs: Sequence[JobRequest], max_batch: int) -> Iterator[
        tuple[Sequence[JobRequest], job_service_pb2.EnqueueBatchRequest]]:
    """Chunks of at most ``max_batch`` keyed jobs, each with its EnqueueBatchRequest."""
    now = datetime.now(timezone.utc)
    for start in range(0, len(jobs), max_batch):
        chunk = jobs[start:start + max_batch]
        yield chunk, job_service_pb2.EnqueueBatchRequest(jobs=[j.to_spec(now) for j in chunk])


def result(job: JobRequest, response: job_service_pb2.EnqueueResponse) -> EnqueueResult:
    return EnqueueResult(response.job_id, response.created, job.idempotency_key or "")


def batch_results(chunk: Sequence[JobRequest],
                  response: job_service_pb2.EnqueueBatchResponse) -> list[EnqueueResult]:
    if len(response.results) != len(chunk):
        raise RuntimeError(f"broker answered {len(response.results)} results for {len(chunk)} jobs")
    return [result(j, r) for j, r in zip(chunk, response.results, strict=True)]


def keyed(jobs: Iterable[JobRequest]) -> list[JobRequest]:
    """Every job with an idempotency key, made once before the first attempt."""
    return [j.keyed() for j in jobs]
