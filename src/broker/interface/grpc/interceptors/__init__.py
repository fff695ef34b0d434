"""The request pipeline: the stages every RPC passes through, outermost first.

    request id -> [tracing] -> access log -> metrics -> errors -> in flight -> authentication
               -> authorization -> rate limit -> deadline -> servicer

Why this order:
- The request id comes first so that every later stage, log line and error names it.
- Tracing (only when BROKER_OTEL / OTEL_EXPORTER_OTLP_ENDPOINT turn it on: tracing.py) comes
  next: its span carries the request id, covers every later stage, and sees the final status.
- Access log and metrics sit outside the error stage, so they see the final status code of
  every call, refusals by the inner stages included, and time the whole call.
- The error stage sits outside load shedding, authentication, authorization, rate limiting and
  the deadline check, so their refusals (domain errors) go through the one status table like the
  servicer's.
- Load shedding (the in-flight bound) comes before authentication: a key lookup is work too, so
  an overloaded broker refuses a call before it costs anything but the stages outside.
- Authentication before authorization (a role needs a principal); both before rate limiting,
  so buckets are per principal and unauthenticated floods cost no bucket state.
- The deadline check is last: work whose deadline passed while queued behind the other stages
  is refused right before it would start.

Stages that are switched off (authentication without BROKER_AUTH, rate limiting without
BROKER_RATE_LIMITS, the access log without BROKER_ACCESS_LOG, tracing unless asked) are left out of the chain.

Each stage is a plain async callable over a `Call` (base.py); the same chain serves unary RPCs
(`PipelineInterceptor`, unary.py) and each call on a worker session (session.py).
"""

from __future__ import annotations

from broker.interface.grpc.interceptors.access_log import AccessLogStage
from broker.interface.grpc.interceptors.authentication import AuthenticationStage, Authenticator
from broker.interface.grpc.interceptors.authorization import AuthorizationStage
from broker.interface.grpc.interceptors.base import Stage
from broker.interface.grpc.interceptors.deadline import DeadlineStage
from broker.interface.grpc.interceptors.errors import ErrorStage
from broker.interface.grpc.interceptors.in_flight import InFlightStage
from broker.interface.grpc.interceptors.metrics import MetricsStage, ObserveRpc, no_metrics
from broker.interface.grpc.interceptors.rate_limit import RateLimitStage
from broker.interface.grpc.interceptors.request_id import RequestIdStage
from broker.interface.grpc.interceptors.tracing import TracingStage
from broker.interface.grpc.interceptors.unary import PipelineInterceptor
from broker.usecases.rate_limit import RateLimiter


def build_chain(*, observe_rpc: ObserveRpc = no_metrics, authenticate: Authenticator | None = None,
                limiter: RateLimiter | None = None, access_log: bool = True,
                in_flight: InFlightStage | None = None, tracer: object | None = None) -> list[Stage]:
    """The stages in order, outermost first (build_server runs them for unary and session calls).
    `in_flight`: the load-shedding stage (app.py sizes it from the settings); None leaves it out.
    `tracer`: an OpenTelemetry tracer for the tracing stage; None (the default) leaves it out."""
    chain: list[Stage] = [RequestIdStage()]
    if tracer is not None:
        chain.append(TracingStage(tracer))
    if access_log:
        chain.append(AccessLogStage())
    chain += [MetricsStage(observe_rpc), ErrorStage()]
    if in_flight is not None:
        chain.append(in_flight)
    if authenticate is not None:
        chain += [AuthenticationStage(authenticate), AuthorizationStage()]
    if limiter is not None and limiter.enabled:
        chain.append(RateLimitStage(limiter))
    chain.append(DeadlineStage())
    return chain


__all__ = ["build_chain", "Stage", "PipelineInterceptor", "RequestIdStage", "AccessLogStage", "MetricsStage", "ErrorStage",
           "InFlightStage", "AuthenticationStage", "AuthorizationStage", "RateLimitStage", "DeadlineStage", "TracingStage"]
