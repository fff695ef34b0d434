"""OpenTelemetry tracing, when the application has it: W3C trace context in the job's headers.

Active only when `opentelemetry-api` is importable (the `otel` extra) and the application set a
tracer provider (`opentelemetry.trace.set_tracer_provider`); otherwise every hook is one cheap
check and nothing is added to a job. Then:

- enqueue: a PRODUCER span `enqueue <queue>` around the Enqueue/EnqueueBatch call; its context
  goes into each job's `traceparent`/`tracestate` headers unless the caller set `traceparent`.
- worker: a CONSUMER span `process <queue>`, child of the context in the leased job's headers,
  current while the handler runs (the handler's own spans are its children); a failed attempt
  records the exception and sets the error status; the settlement (ack, nack, snooze, lost,
  aborted) is an event `settle` on it.

Attributes follow the OTel messaging semantic conventions (messaging.system "broker",
messaging.destination.name, messaging.message.id, messaging.operation.type/name), plus
broker.job.kind and broker.job.attempt.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import context as otel_context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the `otel` extra is not installed: tracing stays off
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .jobs import JobRequest

SYSTEM = "broker"
TRACEPARENT = "traceparent"
_OFF_PROVIDERS: tuple[type, ...] = ()
if trace is not None:
    _OFF_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
    _PROPAGATOR = TraceContextTextMapPropagator()


def tracer() -> Any | None:
    """The SDK's tracer when tracing is on (API installed and a provider set), else None.
    Called on every enqueue and attempt: while no provider is set, two attribute reads."""
    global _cached
    if trace is None:
        return None
    provider = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)  # the API's global, None until set
    if provider is None and not _FROM_ENV:
        return None
    if provider is None or provider is _UNKNOWN:
        provider = trace.get_tracer_provider()
    if isinstance(provider, _OFF_PROVIDERS):
        return None
    if _cached[0] is not provider:
        _cached = (provider, provider.get_tracer("broker_client"))
    return _cached[1]


_UNKNOWN = object()
_cached: tuple[Any, Any] = (None, None)
# A provider named by OTEL_PYTHON_TRACER_PROVIDER is loaded by the API on first use.
_FROM_ENV = bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"))


def _destination(jobs: Sequence[JobRequest]) -> str:
    queues = {job.queue for job in jobs}
    return queues.pop() if len(queues) == 1 else ""


class _Untouched:
    """`enqueue` when tracing is off: the jobs as they are."""

    __slots__ = ("jobs",)

    def __init__(self, jobs: list[JobRequest]) -> None:
        self.jobs = jobs

    def __enter__(self) -> list[JobRequest]:
        return self.jobs

    def __exit__(self, *exc: object) -> None:
        return None


def enqueue(jobs: list[JobRequest]) -> contextlib.AbstractContextManager[list[JobRequest]]:
    """Around an enqueue call: `with tracing.enqueue(jobs) as jobs:` gives the jobs to send, with
    the PRODUCER span's trace context in their headers (untouched when tracing is off)."""
    t = tracer()
    return _Untouched(jobs) if t is None else _producing(t, jobs)


@contextlib.contextmanager
def _producing(t: Any, jobs: list[JobRequest]) -> Iterator[list[JobRequest]]:
    queue = _destination(jobs)
    attributes: dict[str, Any] = {"messaging.system": SYSTEM, "messaging.operation.type": "send",
                                  "messaging.operation.name": "enqueue"}
    if queue:
        attributes["messaging.destination.name"] = queue
    if len(jobs) == 1:
        attributes["broker.job.kind"] = jobs[0].kind
    else:
        attributes["messaging.batch.message_count"] = len(jobs)
    with t.start_as_current_span(f"enqueue {queue}".strip(), kind=trace.SpanKind.PRODUCER,
                                 attributes=attributes):
        yield [_with_context(job) for job in jobs]


def _with_context(job: JobRequest) -> JobRequest:
    if TRACEPARENT in job.headers:
        return job  # the caller's own context wins
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return replace(job, headers={**job.headers, **carrier}) if carrier else job


def enqueued(job_ids: Sequence[str]) -> None:
    """The ids the broker gave, on the current enqueue span (one job: messaging.message.id)."""
    if trace is not None and len(job_ids) == 1:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("messaging.message.id", job_ids[0])


class _Off:
    """The process span when tracing is off: does nothing."""

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def settled(self, how: str | None, outcome: Any = None) -> None:
        return None


_OFF = _Off()


class _Processing:
    """The CONSUMER span of one attempt, current in the task that runs it."""

    def __init__(self, span: Any) -> None:
        self.span = span
        self._token: object = None

    def __enter__(self) -> _Processing:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.span.record_exception(exc)
            self.span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        otel_context.detach(self._token)
        self.span.end()

    def settled(self, how: str | None, outcome: Any = None) -> None:
        """How the attempt ended: lost or aborted, or (`how` None) as its `outcome` (an
        execution.Outcome) says: ack, snooze or nack, a failure recording its exception and
        the error status."""
        span = self.span
        if how is None:
            how = "ack" if outcome.ok else "snooze" if outcome.snooze is not None else "nack"
        if outcome is not None and not outcome.ok and outcome.snooze is None:
            if outcome.exception is not None:
                span.record_exception(outcome.exception)
            first = outcome.error.splitlines()[0] if outcome.error else "failed"
            span.set_status(trace.Status(trace.StatusCode.ERROR, first[:200]))
        span.add_event("settle", {"broker.settle": how})


Span = _Off | _Processing


def process(ctx: Any) -> Span:
    """The span for running `ctx`'s attempt (a worker.JobContext): use as `with tracing.process(ctx) as span:`."""
    t = tracer()
    if t is None:
        return _OFF
    parent = _PROPAGATOR.extract(ctx.headers) if TRACEPARENT in ctx.headers else None
    span = t.start_span(f"process {ctx.queue}", context=parent, kind=trace.SpanKind.CONSUMER, attributes={
        "messaging.system": SYSTEM, "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.destination.name": ctx.queue, "messaging.message.id": ctx.id,
        "broker.job.kind": ctx.kind, "broker.job.attempt": ctx.attempt})
    return _Processing(span)
