"""The blocking producer client."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import grpc

from . import _requests, tracing, uploads
from .admin import requests as admin_requests
from .admin import responses
from .admin.records import Job
from .calls import Calls
from .jobs import EnqueueResult, JobRequest, RetryPolicy, Seconds
from .payloads import PayloadRef
from .options import CallRetry, ConnectionOptions, TlsOptions, resolve
from .results import WaitTimedOut, finished, outcome, poll_delays
from .v1 import admin_service_pb2_grpc, job_service_pb2_grpc


class Client:
    """Enqueues jobs over a blocking gRPC channel. Thread-safe; make one and share it.

    Every logical enqueue carries an idempotency key (yours, or a uuid4 made once per call),
    so UNAVAILABLE and DEADLINE_EXCEEDED are retried with backoff without risking duplicates,
    and RESOURCE_EXHAUSTED is retried after the server's RetryInfo delay. Failures that remain
    raise a ``BrokerClientError`` subclass.

    >>> with Client("127.0.0.1:50051", token="s3cret") as client:
    ...     client.enqueue("emails", "send_email", {"to": "ada@example.com"})
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
        channel: grpc.Channel | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_batch: int = _requests.DEFAULT_MAX_BATCH,
    ) -> None:
        """``options`` holds every connection setting; the keywords override it.
        ``channel`` replaces the channel the options would build (tests use it).
        ``max_batch``: jobs per EnqueueBatch call, 1,000 by default (the broker's default
        BROKER_MAX_BATCH); give a broker with a lower limit its value."""
        self.max_batch = _requests.check_max_batch(max_batch)
        self.options = resolve(target, options, token=token, tls=tls, timeout=timeout, retry=retry)
        self._call = Calls(self.options, channel, sleep)
        self._stub = job_service_pb2_grpc.JobServiceStub(self._call.channel)  # type: ignore[no-untyped-call]
        self._admin = admin_service_pb2_grpc.AdminServiceStub(self._call.channel)  # type: ignore[no-untyped-call]
        self._sleep = sleep

    def get_job(self, job_id: str, *, timeout: float | None = None) -> Job:
        """The job as the broker holds it now: its state, ``result``, errors. ``NotFound`` when
        the broker has no such job (never enqueued, or pruned after BROKER_RETENTION). With
        authentication on it needs the producer or admin role."""
        return responses.job(self._call(self._admin.GetJob, admin_requests.get_request(job_id), timeout).job)

    def wait(self, job_id: str, timeout: float, *, poll: float = 1.0) -> bytes | None:
        """Wait up to ``timeout`` seconds for the job to finish and return its result (bytes as
        the handler's return value was encoded, None when it returned None; ``Job.result_json``
        parses JSON). Raises ``JobFailed`` (DEAD; its ``job.last_error`` says why),
        ``JobCancelled``, or ``WaitTimedOut`` (a ``TimeoutError``). Polls GetJob, at first often,
        then every ``poll`` seconds."""
        deadline = time.monotonic() + timeout
        delays = poll_delays(most=poll)
        while True:
            job = self.get_job(job_id)
            if finished(job):
                return outcome(job)
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimedOut(job, timeout)
            self._sleep(min(next(delays), left))

    def enqueue(
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
        """Add one job to ``queue``. ``payload``: bytes as is, str as UTF-8, else JSON.

        ``delay`` (seconds or timedelta) or ``run_at`` (aware datetime) postpone it; lower
        ``priority`` runs first. ``concurrency_key``: jobs of the queue with the same key run at
        most the queue's ``per_key_concurrency`` at a time. Returns the job id and whether this
        call created it.
        """
        job = JobRequest(queue, kind, payload, priority, delay, run_at, dict(headers or {}),
                         retry_policy, max_attempts, idempotency_key, lease_duration,
                         max_lease_expiries=max_lease_expiries, concurrency_key=concurrency_key)
        return self.enqueue_job(job, timeout=timeout)

    def enqueue_job(self, job: JobRequest, *, timeout: float | None = None) -> EnqueueResult:
        """``enqueue`` for a prepared JobRequest."""
        with tracing.enqueue([job.keyed()]) as (job,):
            response = self._call(self._stub.Enqueue, _requests.enqueue_request(job), timeout)
            tracing.enqueued([response.job_id])
        return _requests.result(job, response)

    def enqueue_batch(self, jobs: Iterable[JobRequest], *, timeout: float | None = None) -> list[EnqueueResult]:
        """Add many jobs, up to ``max_batch`` per call (larger inputs are split), one result per
        job in order. Each chunk is atomic on the broker and retried as a whole."""
        results: list[EnqueueResult] = []
        with tracing.enqueue(_requests.keyed(jobs)) as keyed:
            for chunk, request in _requests.batch_requests(keyed, self.max_batch):
                response = self._call(self._stub.EnqueueBatch, request, timeout)
                results.extend(_requests.batch_results(chunk, response))
        return results

    def upload(self, source: bytes | str | os.PathLike, *, through_broker: bool = False,
               multipart_over: int = uploads.MULTIPART_OVER, timeout: float | None = None) -> PayloadRef:
        """Put a large payload (bytes, or a file path: streamed, never read whole) into the
        broker's object storage; enqueue the returned reference as a job's payload. The bytes go
        to a pre-signed URL (in parts over ``multipart_over``) without crossing the broker, or,
        with ``through_broker``, stream through it (UploadPayload). Needs the producer role."""
        if through_broker:
            response = self._call(lambda _, **kw: self._stub.UploadPayload(uploads.stream_messages(source), **kw),
                                  None, timeout)
            return uploads.ref(response)
        upload = self._call(self._stub.CreateUpload, uploads.create_request(source, multipart_over), timeout)
        uploads.put_all(upload, source)
        if (complete := uploads.complete_request(upload)) is not None:
            self._call(self._stub.CompleteUpload, complete, timeout)
        return uploads.ref(upload)

    def close(self) -> None:
        """Close the channel."""
        self._call.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
