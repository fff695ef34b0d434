"""The asyncio producer client."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc.aio

from . import _requests, tracing, uploads
from .admin import requests as admin_requests
from .admin import responses
from .admin.records import Job
from .calls import AsyncCalls
from .jobs import EnqueueResult, JobRequest, RetryPolicy, Seconds
from .payloads import PayloadRef
from .options import CallRetry, ConnectionOptions, TlsOptions, resolve
from .results import WaitTimedOut, finished, outcome, poll_delays
from .v1 import admin_service_pb2_grpc, job_service_pb2_grpc


class AsyncClient:
    """Enqueues jobs over an asyncio gRPC channel; the asyncio twin of ``Client`` with the
    same retry and idempotency behaviour. Create it inside the running event loop.

    >>> async with AsyncClient("127.0.0.1:50051") as client:
    ...     await client.enqueue("thumbnails", "resize", {"image": "cat.png"})
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        tls: TlsOptions | None = None,
        timeout: float | None = None,
        retry: CallRetry | None = None,
        options: ConnectionOptions | None = None,
        channel: grpc.aio.Channel | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_batch: int = _requests.DEFAULT_MAX_BATCH,
    ) -> None:
        """``options`` holds every connection setting; the keywords override it; ``max_batch``
        as in ``Client``."""
        self.max_batch = _requests.check_max_batch(max_batch)
        self.options = resolve(target, options, token=token, tls=tls, timeout=timeout, retry=retry)
        self._call = AsyncCalls(self.options, channel, sleep)
        self._stub = job_service_pb2_grpc.JobServiceStub(self._call.channel)  # type: ignore[no-untyped-call]
        self._admin = admin_service_pb2_grpc.AdminServiceStub(self._call.channel)  # type: ignore[no-untyped-call]
        self._sleep = sleep

    async def get_job(self, job_id: str, *, timeout: float | None = None) -> Job:
        """See ``Client.get_job``."""
        response = await self._call(self._admin.GetJob, admin_requests.get_request(job_id), timeout)
        return responses.job(response.job)

    async def wait(self, job_id: str, timeout: float, *, poll: float = 1.0) -> bytes | None:
        """See ``Client.wait``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delays = poll_delays(most=poll)
        while True:
            job = await self.get_job(job_id)
            if finished(job):
                return outcome(job)
            left = deadline - loop.time()
            if left <= 0:
                raise WaitTimedOut(job, timeout)
            await self._sleep(min(next(delays), left))

    async def enqueue(
        self,
        queue: str,
        kind: str,
        payload: Any = b"",
        *,
        priority: int = 0,
        delay: Seconds | None = None,
        run_at: datetime | None = None,
        headers: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
        lease_duration: Seconds | None = None,
        max_lease_expiries: int | None = None,
        concurrency_key: str | None = None,
        timeout: float | None = None,
    ) -> EnqueueResult:
        """Add one job to ``queue``; see ``Client.enqueue``."""
        job = JobRequest(queue, kind, payload, priority, delay, run_at, dict(headers or {}),
                         retry_policy, max_attempts, idempotency_key, lease_duration,
                         max_lease_expiries=max_lease_expiries, concurrency_key=concurrency_key)
        return await self.enqueue_job(job, timeout=timeout)

    async def enqueue_job(self, job: JobRequest, *, timeout: float | None = None) -> EnqueueResult:
        """``enqueue`` for a prepared JobRequest."""
        with tracing.enqueue([job.keyed()]) as (job,):
            response = await self._call(self._stub.Enqueue, _requests.enqueue_request(job), timeout)
            tracing.enqueued([response.job_id])
        return _requests.result(job, response)

    async def enqueue_batch(self, jobs: Iterable[JobRequest], *,
                            timeout: float | None = None) -> list[EnqueueResult]:
        """Add many jobs; see ``Client.enqueue_batch``."""
        results: list[EnqueueResult] = []
        with tracing.enqueue(_requests.keyed(jobs)) as keyed:
            for chunk, request in _requests.batch_requests(keyed, self.max_batch):
                response = await self._call(self._stub.EnqueueBatch, request, timeout)
                results.extend(_requests.batch_results(chunk, response))
        return results

    async def upload(self, source: bytes | str | os.PathLike, *, through_broker: bool = False,
                     multipart_over: int = uploads.MULTIPART_OVER, timeout: float | None = None) -> PayloadRef:
        """See ``Client.upload`` (the HTTP transfers run in a thread, off the event loop)."""
        if through_broker:
            response = await self._call(
                lambda _, **kw: self._stub.UploadPayload(uploads.stream_messages(source), **kw), None, timeout)
            return uploads.ref(response)
        request = await asyncio.to_thread(uploads.create_request, source, multipart_over)
        upload = await self._call(self._stub.CreateUpload, request, timeout)
        await asyncio.to_thread(uploads.put_all, upload, source)
        if (complete := uploads.complete_request(upload)) is not None:
            await self._call(self._stub.CompleteUpload, complete, timeout)
        return uploads.ref(upload)

    async def close(self) -> None:
        """Close the channel."""
        await self._call.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
