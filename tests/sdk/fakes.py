"""An in-memory JobService for the SDK's unit tests, served by a real grpc.aio server.

It follows the contract closely enough for the worker's logic (leases with tokens and
deadlines, long polls, LOST outcomes, retries, dead letters) and lets a test script faults:
``fail_next("Lease", UNAVAILABLE)`` or ``lose(job_id)``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import grpc
import grpc.aio

from broker_client.v1 import job_pb2, job_service_pb2 as pb, job_service_pb2_grpc

S = job_pb2


@dataclass
class FakeJob:
    id: str
    spec: job_pb2.JobSpec
    state: int = S.JOB_STATE_PENDING
    attempt: int = 0
    token: str = ""
    run_at: float = 0.0
    lease_until: float = 0.0
    lease_seconds: float = 30.0
    errors: list[str] = field(default_factory=list)
    # (from_state, to_state, reason)
    events: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def max_attempts(self) -> int:
        return self.spec.max_attempts or 10

    def move(self, to: int, reason: str) -> None:
        self.events.append((self.state, to, reason))
        self.state = to


class FakeJobService(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.requests: dict[str, list[object]] = defaultdict(list)
        self.metadata: list[dict[str, str]] = []
        self._keys: dict[tuple[str, str], str] = {}
        self._faults: dict[str, list[tuple[grpc.StatusCode, tuple]]] = defaultdict(list)
        self._changed = asyncio.Event()

    # -- scripting -------------------------------------------------------------------------
    def fail_next(self, method: str, code: grpc.StatusCode, times: int = 1, trailers: tuple = ()) -> None:
        self._faults[method].extend([(code, trailers)] * times)

    def lose(self, job_id: str) -> None:
        """As if the lease lapsed and the job went to someone else."""
        self.jobs[job_id].token = "taken-by-someone-else"

    def states(self) -> dict[str, int]:
        return {j.id: j.state for j in self.jobs.values()}

    async def _enter(self, method: str, request: object, context: grpc.aio.ServicerContext) -> None:
        self.requests[method].append(request)
        self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
        if self._faults[method]:
            code, trailers = self._faults[method].pop(0)
            if trailers:
                context.set_trailing_metadata(trailers)
            await context.abort(code, f"scripted {code.name}")

    # -- producer --------------------------------------------------------------------------
    def _add(self, spec: job_pb2.JobSpec) -> pb.EnqueueResponse:
        key = (spec.queue, spec.idempotency_key)
        if spec.idempotency_key and key in self._keys:
            return pb.EnqueueResponse(job_id=self._keys[key], created=False)
        job = FakeJob(str(uuid.uuid4()), spec, run_at=_run_at(spec))
        job.events.append((S.JOB_STATE_UNSPECIFIED, S.JOB_STATE_PENDING, "enqueue"))
        if spec.HasField("lease_duration"):
            job.lease_seconds = spec.lease_duration.ToNanoseconds() / 1e9
        self.jobs[job.id] = job
        if spec.idempotency_key:
            self._keys[key] = job.id
        self._changed.set()
        return pb.EnqueueResponse(job_id=job.id, created=True)

    async def Enqueue(self, request, context):
        response = self._add(request.job)
        await self._enter("Enqueue", request, context)  # processed, then maybe "lost"
        return response

    async def EnqueueBatch(self, request, context):
        results = [self._add(spec) for spec in request.jobs]
        await self._enter("EnqueueBatch", request, context)
        return pb.EnqueueBatchResponse(results=results)

    # -- worker ----------------------------------------------------------------------------
    async def Lease(self, request, context):
        await self._enter("Lease", request, context)
        wait = request.wait.ToNanoseconds() / 1e9 if request.HasField("wait") else 0.0
        until = time.monotonic() + wait
        while True:
            self.reap()
            jobs = self._claim(request)
            if jobs or time.monotonic() >= until:
                return pb.LeaseResponse(jobs=jobs)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(0.05, until - time.monotonic()))
            except TimeoutError:
                pass

    def _claim(self, request: pb.LeaseRequest) -> list[pb.LeasedJob]:
        now = time.monotonic()
        ready = sorted((j for j in self.jobs.values() if j.state == S.JOB_STATE_PENDING
                        and j.spec.queue in request.queues and j.run_at <= now),
                       key=lambda j: (j.spec.priority, j.run_at))
        out = []
        for job in ready[:request.max_jobs]:
            if request.HasField("lease_duration"):
                job.lease_seconds = request.lease_duration.ToNanoseconds() / 1e9
            job.attempt += 1
            job.token = uuid.uuid4().hex
            job.lease_until = now + job.lease_seconds
            job.move(S.JOB_STATE_RUNNING, "lease")
            out.append(pb.LeasedJob(job=self._wire(job), lease_token=job.token, attempt=job.attempt))
        return out

    def _wire(self, job: FakeJob) -> job_pb2.Job:
        s = job.spec
        return job_pb2.Job(id=job.id, queue=s.queue, kind=s.kind, payload=s.payload, headers=s.headers,
                           idempotency_key=s.idempotency_key, priority=s.priority, state=job.state,
                           attempt=job.attempt, max_attempts=job.max_attempts)

    def _check(self, ref: pb.LeaseRef) -> FakeJob | pb.LeaseResult:
        job = self.jobs.get(ref.job_id)
        if job is None:
            return pb.LeaseResult(job_id=ref.job_id, outcome=pb.LEASE_OUTCOME_NOT_FOUND)
        if job.token != ref.lease_token or job.state != S.JOB_STATE_RUNNING:
            # The same call repeated with the current token is a no-op that succeeds.
            outcome = pb.LEASE_OUTCOME_OK if job.token == ref.lease_token else pb.LEASE_OUTCOME_LOST
            return pb.LeaseResult(job_id=job.id, outcome=outcome, state=job.state)
        return job

    async def Heartbeat(self, request, context):
        await self._enter("Heartbeat", request, context)
        results = []
        for ref in request.leases:
            job = self._check(ref)
            if isinstance(job, FakeJob):
                job.lease_until = time.monotonic() + job.lease_seconds
                job = pb.LeaseResult(job_id=job.id, outcome=pb.LEASE_OUTCOME_OK, state=job.state)
            results.append(job)
        return pb.HeartbeatResponse(results=results)

    async def Ack(self, request, context):
        await self._enter("Ack", request, context)
        results = []
        for ref in request.leases:
            job = self._check(ref)
            if isinstance(job, FakeJob):
                job.move(S.JOB_STATE_SUCCEEDED, "ack")
                job = pb.LeaseResult(job_id=job.id, outcome=pb.LEASE_OUTCOME_OK, state=job.state)
            results.append(job)
        return pb.AckResponse(results=results)

    async def Nack(self, request, context):
        await self._enter("Nack", request, context)
        results = []
        for item in request.items:
            job = self._check(item.lease)
            if isinstance(job, FakeJob):
                job.errors.append(item.error)
                delay = item.retry_after.ToNanoseconds() / 1e9 if item.HasField("retry_after") else 0.0
                self._fail(job, "nack", delay, item.permanent)
                job = pb.LeaseResult(job_id=job.id, outcome=pb.LEASE_OUTCOME_OK, state=job.state)
            results.append(job)
        return pb.NackResponse(results=results)

    def _fail(self, job: FakeJob, reason: str, delay: float, permanent: bool = False) -> None:
        if permanent or job.attempt >= job.max_attempts:
            job.move(S.JOB_STATE_DEAD, reason)
        else:
            job.run_at = time.monotonic() + delay
            job.move(S.JOB_STATE_PENDING, reason)
        self._changed.set()

    def reap(self) -> None:
        now = time.monotonic()
        for job in self.jobs.values():
            if job.state == S.JOB_STATE_RUNNING and job.lease_until < now:
                job.token = ""
                self._fail(job, "expire", 0.0)


def _run_at(spec: job_pb2.JobSpec) -> float:
    if not spec.HasField("run_at"):
        return 0.0
    return time.monotonic() + max(0.0, spec.run_at.ToNanoseconds() / 1e9 - time.time())


async def serve(fake: FakeJobService) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    job_service_pb2_grpc.add_JobServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
