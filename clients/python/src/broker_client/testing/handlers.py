"""One attempt of a handler, run as a worker would run it, without a broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..jobs import encode_payload
from ..worker.context import JobContext
from ..worker.execution import HandlerRunner, Outcome
from ..worker.registry import Handler, Registry
from ..worker.worker import Worker

Target = Callable[..., Any] | Worker | Registry


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
