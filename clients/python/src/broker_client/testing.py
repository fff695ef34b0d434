"""Test handlers and producer code without a broker.

``run_job`` runs one attempt of a handler exactly as a worker would (sync handlers in a
thread, time limits, PermanentError and RetryLater classified) and returns the Outcome.
``InMemoryBroker`` accepts enqueues like ``Client`` and runs them through a worker's
handlers, retrying failures up to each job's max_attempts. Time is not simulated: delays,
run_at and backoffs are ignored, every pending job runs on the next ``run_all``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .jobs import EnqueueResult, JobRequest, encode_payload
from .worker.context import JobContext
from .worker.execution import HandlerRunner, Outcome
from .worker.registry import Handler, Registry
from .worker.worker import Worker

Target = Callable[..., Any] | Worker | Registry

__all__ = ["InMemoryBroker", "MemoryJob", "Outcome", "arun_job", "make_context", "run_job"]


def make_context(payload: Any = b"", *, kind: str = "test", queue: str = "default",
                 headers: Mapping[str, str] | None = None, attempt: int = 1, max_attempts: int = 10,
                 job_id: str | None = None, idempotency_key: str = "") -> JobContext:
    """A JobContext as a worker would build it; ``payload`` is encoded like ``Client.enqueue``."""
    data, content_type = encode_payload(payload)
    all_headers = dict(headers or {})
    if content_type:
        all_headers.setdefault("content-type", content_type)
    return JobContext(id=job_id or str(uuid.uuid4()), kind=kind, queue=queue, payload=data,
                      attempt=attempt, max_attempts=max_attempts, headers=all_headers,
                      idempotency_key=idempotency_key, worker_id="testing")


def _handler(target: Target, kind: str | None) -> Handler | None:
    if isinstance(target, Worker | Registry):
        registry = target.registry if isinstance(target, Worker) else target
        if kind is None:
            raise ValueError("give kind= to pick the handler from a Worker or Registry")
        return registry.get(kind)
    return Registry().add(kind or str(getattr(target, "__name__", "test")), target)


async def arun_job(target: Target, payload: Any = b"", *, kind: str | None = None,
                   timeout: float | None = None, **context: Any) -> Outcome:
    """Run one attempt of a handler (a function, or ``kind`` of a Worker/Registry).

    ``context`` goes to ``make_context`` (queue, headers, attempt, max_attempts, job_id,
    idempotency_key). ``Outcome.unwrap()`` returns the value or re-raises the failure.
    """
    handler = _handler(target, kind)
    ctx = make_context(payload, kind=kind or (handler.kind if handler else "test"), **context)
    return await HandlerRunner(default_timeout=timeout).run(handler, ctx)


def run_job(target: Target, payload: Any = b"", *, kind: str | None = None,
            timeout: float | None = None, **context: Any) -> Outcome:
    """``arun_job`` for synchronous tests (not from inside a running event loop)."""
    return asyncio.run(arun_job(target, payload, kind=kind, timeout=timeout, **context))


@dataclass
class MemoryJob:
    """A job held by the InMemoryBroker; ``state`` is pending, succeeded or dead."""

    id: str
    request: JobRequest
    state: str = "pending"
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    result: Any = None

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
        job.errors.append(outcome.error)
        if outcome.permanent or job.attempts >= job.max_attempts:
            job.state = "dead"
