"""Stage 2 when tracing is on (BROKER_OTEL, infra/tracing.py): a SERVER span per job RPC.

Enqueue, EnqueueBatch, Lease, Heartbeat, Ack, Nack and Snooze (unary, or a call on a worker
session) get a span named `broker.v1.JobService/<Method>` with the RPC semantic-convention
attributes (rpc.system, rpc.service, rpc.method, rpc.grpc.status_code) and the request id. Its
parent is the caller's W3C context from the gRPC metadata (`traceparent`, `tracestate`); an
Enqueue without one continues the context in its job's `traceparent` header (what the SDKs put
there inside their producer span), and the jobs of an EnqueueBatch are links. It sits right
after the request id stage, outside the error stage, so it sees the final status of every call;
server-side failures (INTERNAL, UNKNOWN, UNAVAILABLE, ...) set the error status. Off, the stage
is not in the chain and opentelemetry is never imported."""

from __future__ import annotations

from typing import Any

import grpc

from broker.interface.grpc.interceptors.base import Call, Malformed, Proceed, outcome

_JOBS = "/broker.v1.JobService/"
TRACED = frozenset(_JOBS + name for name in ("Enqueue", "EnqueueBatch", "Lease", "Heartbeat", "Ack", "Nack", "Snooze"))
_KEYS = ("traceparent", "tracestate")
MAX_LINKS = 32  # of one EnqueueBatch: the first jobs' contexts
# The server's fault, as the RPC conventions count an error on a server span.
_ERRORS = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
                     grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS})


class TracingStage:
    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        self._tracer, self._trace, self._propagator = tracer, trace, TraceContextTextMapPropagator()

    async def __call__(self, call: Call, proceed: Proceed) -> Any:
        if call.method not in TRACED:
            return await proceed(call)
        service, _, method = call.method[1:].rpartition("/")
        carrier = {k: v for k, v in call.metadata or () if k in _KEYS and isinstance(v, str)}
        headers = _job_headers(call) if "traceparent" not in carrier else []
        parent = carrier or (headers[0] if len(headers) == 1 and method == "Enqueue" else None)
        links = [] if parent is not None and method == "Enqueue" else self._links(headers)
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method,
                      "broker.request_id": call.request_id}
        span = self._tracer.start_span(f"{service}/{method}", kind=self._trace.SpanKind.SERVER, links=links,
                                       context=self._propagator.extract(parent) if parent else None,
                                       attributes=attributes)
        code = grpc.StatusCode.OK
        try:
            with self._trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                return await proceed(call)
        except BaseException as exc:
            code = outcome(call, exc)
            raise
        finally:
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in _ERRORS:
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, code.name))
            span.end()

    def _links(self, headers: list[dict[str, str]]) -> list[Any]:
        links = []
        for carrier in headers[:MAX_LINKS]:
            context = self._trace.get_current_span(self._propagator.extract(carrier)).get_span_context()
            if context.is_valid:
                links.append(self._trace.Link(context))
        return links


def _job_headers(call: Call) -> list[dict[str, str]]:
    """The trace context headers of the jobs an Enqueue or EnqueueBatch carries."""
    request = call.request
    if isinstance(request, Malformed):
        return []
    if call.method == _JOBS + "Enqueue":
        specs = [request.job]
    elif call.method == _JOBS + "EnqueueBatch":
        specs = list(request.jobs)
    else:
        return []
    return [{k: spec.headers[k] for k in _KEYS if k in spec.headers} for spec in specs if "traceparent" in spec.headers]
