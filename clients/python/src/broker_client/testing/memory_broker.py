"""InMemoryBroker: enqueues like ``Client``, runs what was enqueued through a worker's handlers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..jobs import EnqueueResult, JobRequest
from ..worker.registry import Registry
from ..worker.worker import Worker
from .handlers import arun_job


@dataclass
class MemoryJob:
    """A job held by the InMemoryBroker; ``state`` is pending, succeeded or dead."""

    id: str
    request: JobRequest
    state: str = "pending"
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    result: Any = None
    snoozes: int = 0  # a snooze gives its attempt back, as the broker does (no delay here)

    @property
    def max_attempts(self) -> int:
        return self.request.max_attempts or 10


class InMemoryBroker:
    """A stand-in broker for unit tests: ``enqueue``/``enqueue_batch`` like ``Client`` (same
    idempotency-key behaviour), then ``run_all(worker)`` to execute what was enqueued."""

    def __init__(self) -> None:
        self.jobs: list[MemoryJob] = []
        self._keys: dict[tuple[str, str], str] = {}

    def enqueue(self, queue: str, kind: str, payload: Any = b"", **options: Any) -> EnqueueResult:
        """Same arguments as ``Client.enqueue``."""
        options.pop("timeout", None)
        return self.enqueue_job(JobRequest(queue, kind, payload, **options))

    def enqueue_job(self, job: JobRequest, *, timeout: float | None = None) -> EnqueueResult:
        job = job.keyed()
        key = (job.queue, job.idempotency_key or "")
        if key in self._keys:
            return EnqueueResult(self._keys[key], False, key[1])
        self.jobs.append(MemoryJob(str(uuid.uuid4()), job))
        self._keys[key] = self.jobs[-1].id
        return EnqueueResult(self.jobs[-1].id, True, key[1])

    def enqueue_batch(self, jobs: Iterable[JobRequest], *, timeout: float | None = None) -> list[EnqueueResult]:
        return [self.enqueue_job(j) for j in jobs]

    def pending(self, queue: str | None = None) -> list[MemoryJob]:
        return [j for j in self.jobs if j.state == "pending" and queue in (None, j.request.queue)]

    def by_state(self, state: str) -> list[MemoryJob]:
        return [j for j in self.jobs if j.state == state]

    async def arun_all(self, target: Worker | Registry, *, queues: Iterable[str] | None = None,
                       max_rounds: int = 1000) -> list[MemoryJob]:
        """Run pending jobs (of ``queues``, default: the worker's, else all) until none is left,
        including jobs the handlers enqueue meanwhile. Returns the jobs that ran."""
        wanted = set(queues or (target.settings.queues if isinstance(target, Worker) else ()))
        ran: dict[str, MemoryJob] = {}
        for _ in range(max_rounds):
            batch = [j for j in self.pending() if not wanted or j.request.queue in wanted]
            if not batch:
                return list(ran.values())
            for job in batch:
                await self._attempt(target, job)
                ran[job.id] = job
        raise RuntimeError(f"jobs still pending after {max_rounds} rounds (a handler loops?)")

    def run_all(self, target: Worker | Registry, **kwargs: Any) -> list[MemoryJob]:
        """``arun_all`` for synchronous tests."""
        return asyncio.run(self.arun_all(target, **kwargs))

    async def _attempt(self, target: Worker | Registry, job: MemoryJob) -> None:
        job.attempts += 1
        req = job.request
        outcome = await arun_job(target, req.payload, kind=req.kind, queue=req.queue,
                                 headers=req.headers, attempt=job.attempts, max_attempts=job.max_attempts,
                                 job_id=job.id, idempotency_key=req.idempotency_key or "")
        if outcome.ok:
            job.state, job.result = "succeeded", outcome.value
            return
        if outcome.snooze is not None:  # pending again at once: the next round runs it
            job.attempts, job.snoozes = job.attempts - 1, job.snoozes + 1
            return
        job.errors.append(outcome.error)
        if outcome.permanent or job.attempts >= job.max_attempts:
            job.state = "dead"
