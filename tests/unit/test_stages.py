"""Each pipeline stage alone, around a plain handler, through the unary adapter with a fake
ServicerContext (and the stages as plain functions over a Call)."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from broker.entities import errors
from broker.entities.auth import Principal, Role
from broker.entities.rate import Rate
from broker.interface.grpc.context import deadline, principal, request_id
from broker.interface.grpc.interceptors import (
    AccessLogStage, AuthenticationStage, AuthorizationStage, DeadlineStage, ErrorStage, MetricsStage,
    PipelineInterceptor, RateLimitStage, RequestIdStage,
)
from broker.interface.grpc.interceptors.authentication import bearer
from broker.interface.grpc.interceptors.base import Call
from broker.usecases.rate_limit import RateLimiter
from tests.unit.grpc_fakes import Details, FakeContext, run_stages

ENQUEUE = "/broker.v1.JobService/Enqueue"
LEASE = "/broker.v1.JobService/Lease"
HEALTH = "/grpc.health.v1.Health/Check"
WORKER = Principal("k1", "workers", Role.WORKER)


async def ok(request, context):
    return "done"


def seen():
    """A handler that records what the call looked like from inside."""
    calls = []

    async def handler(request, context):
        calls.append({"request_id": request_id.get(), "principal": principal.get(), "deadline": deadline.get()})
        return "done"
    return handler, calls


# -- request id

async def test_request_id_is_taken_from_metadata_and_returned_in_trailers():
    handler, calls = seen()
    ctx = FakeContext(metadata=[("x-request-id", "abc-123")])
    assert await run_stages([RequestIdStage()], handler, context=ctx) == "done"
    assert calls[0]["request_id"] == "abc-123"
    assert ("x-request-id", "abc-123") in ctx.trailers
    assert request_id.get() is None  # nothing outlives the call


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "tab\there"])
async def test_request_id_is_made_when_missing_or_unusable(given):
    handler, calls = seen()
    ctx = FakeContext(metadata=[("x-request-id", given)] if given is not None else [])
    await run_stages([RequestIdStage(make=lambda: "made-1")], handler, context=ctx)
    assert calls[0]["request_id"] == "made-1" and ctx.trailers == (("x-request-id", "made-1"),)


async def test_request_id_survives_an_error_with_retry_info():
    async def limited(request, context):
        raise errors.ResourceExhausted("slow down", retry_after=1.5)

    ctx = FakeContext(metadata=[("x-request-id", "r-9")])
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([RequestIdStage(), ErrorStage()], limited, context=ctx)
    keys = [k for k, _ in ctx.trailers]
    assert "x-request-id" in keys and "grpc-status-details-bin" in keys


# -- access log

async def test_access_log_line_names_method_status_duration_peer_principal(caplog):
    async def as_worker(request, context):
        principal.set(WORKER)
        raise errors.InvalidArgument("queue", "bad")

    caplog.set_level(logging.INFO, "broker.access")
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([RequestIdStage(), AccessLogStage(), ErrorStage()], as_worker,
                         context=FakeContext(metadata=[("x-request-id", "log-1")]))
    [record] = [r for r in caplog.records if r.name == "broker.access"]
    assert (record.method, record.code, record.peer, record.principal) == (
        ENQUEUE, "INVALID_ARGUMENT", "ipv4:127.0.0.1:5555", "workers")
    assert record.duration_ms >= 0


async def test_access_log_says_cancelled_and_deadline_exceeded(caplog):
    async def cancelled(request, context):
        raise asyncio.CancelledError()

    caplog.set_level(logging.INFO, "broker.access")
    for remaining, code in ((5.0, "CANCELLED"), (-0.1, "DEADLINE_EXCEEDED")):
        with pytest.raises(asyncio.CancelledError):
            await run_stages([AccessLogStage()], cancelled, context=FakeContext(time_remaining=remaining))
        assert caplog.records[-1].code == code


async def test_access_log_keeps_health_checks_at_debug(caplog):
    caplog.set_level(logging.INFO, "broker.access")
    await run_stages([AccessLogStage()], ok, method=HEALTH)
    assert not caplog.records


# -- metrics

async def test_metrics_observes_method_code_and_seconds():
    observed = []

    async def missing(request, context):
        raise errors.JobNotFound("00000000-0000-0000-0000-000000000000")

    def observe(m, c, s):
        observed.append((m, c, s))

    await run_stages([MetricsStage(observe)], ok)
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([MetricsStage(observe), ErrorStage()], missing)
    assert [(m, c) for m, c, _ in observed] == [(ENQUEUE, "OK"), (ENQUEUE, "NOT_FOUND")]
    assert all(s >= 0 for _, _, s in observed)


async def test_a_failing_metrics_sink_does_not_fail_the_call():
    def broken(m, c, s):
        raise RuntimeError("registry gone")

    assert await run_stages([MetricsStage(broken)], ok) == "done"


# -- errors

@pytest.mark.parametrize("exc, code", [
    (errors.InvalidArgument("f", "bad"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.JobNotFound("x"), grpc.StatusCode.NOT_FOUND),
    (errors.IllegalTransition("x", "A", "B"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ResourceExhausted(), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DeadlineExceeded(), grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.Unavailable(), grpc.StatusCode.UNAVAILABLE),
    (errors.Unauthenticated(), grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied(), grpc.StatusCode.PERMISSION_DENIED),
])
async def test_error_stage_maps_domain_errors_through_the_table(exc, code):
    async def failing(request, context):
        raise exc

    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([ErrorStage()], failing, context=ctx)
    assert ctx.status == code and ctx.message == str(exc)


async def test_error_stage_attaches_retry_info():
    async def limited(request, context):
        raise errors.ResourceExhausted("slow down", retry_after=0.25)

    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([ErrorStage()], limited, context=ctx)
    [blob] = [v for k, v in ctx.trailers if k == "grpc-status-details-bin"]
    status = status_pb2.Status.FromString(blob)
    info = error_details_pb2.RetryInfo()
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] and status.details[0].Unpack(info)
    assert info.retry_delay.ToNanoseconds() == 250_000_000


async def test_unexpected_exception_is_internal_with_request_id_and_no_trace(caplog):
    async def broken(request, context):
        raise KeyError("secret-internal-detail")

    ctx = FakeContext(metadata=[("x-request-id", "req-42")])
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([RequestIdStage(), ErrorStage()], broken, context=ctx)
    assert ctx.status == grpc.StatusCode.INTERNAL
    assert "req-42" in ctx.message and "secret" not in ctx.message and "Traceback" not in ctx.message
    assert any(r.exc_info and r.request_id == "req-42" for r in caplog.records)


async def test_a_method_left_unimplemented_is_unimplemented_not_internal(caplog):
    async def generated_base(request, context):
        raise NotImplementedError("Method not implemented!")

    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([RequestIdStage(), ErrorStage()], generated_base, context=ctx)
    assert ctx.status == grpc.StatusCode.UNIMPLEMENTED and "not implemented" in ctx.message
    assert not any(r.levelname == "ERROR" for r in caplog.records)


async def test_error_stage_refuses_unparsable_bytes_before_the_servicer():
    handler, calls = seen()

    def strict(data: bytes):
        raise ValueError("corrupt")

    async def continuation(details):
        return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=strict)

    wrapped = await PipelineInterceptor([ErrorStage()]).intercept_service(continuation, Details(ENQUEUE))
    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await wrapped.unary_unary(wrapped.request_deserializer(b"\xff"), ctx)
    assert ctx.status == grpc.StatusCode.INVALID_ARGUMENT and ctx.message.startswith("request:")
    assert calls == []


async def test_error_stage_lets_cancellation_through():
    async def cancelled(request, context):
        raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        await run_stages([ErrorStage()], cancelled)


# -- authentication

@pytest.mark.parametrize("value, token", [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None), ("", None),
    (None, None), ("abc", None),
])
def test_bearer_parsing(value, token):
    assert bearer(value) == token


async def test_authentication_sets_the_principal():
    tokens = []

    async def authenticate(token):
        tokens.append(token)
        if token != "good":
            raise errors.Unauthenticated()
        return WORKER

    handler, calls = seen()
    await run_stages([RequestIdStage(), AuthenticationStage(authenticate)], handler,
                     context=FakeContext(metadata=[("authorization", "Bearer good")]))
    assert calls[0]["principal"] == WORKER
    with pytest.raises(errors.Unauthenticated):
        await run_stages([AuthenticationStage(authenticate)], handler,
                         context=FakeContext(metadata=[("authorization", "Bearer bad")]))
    assert tokens == ["good", "bad"] and len(calls) == 1


async def test_authentication_leaves_health_open():
    async def refuse(token):
        raise errors.Unauthenticated()

    assert await run_stages([AuthenticationStage(refuse)], ok, method=HEALTH) == "done"


# -- authorization

@pytest.mark.parametrize("role, method, allowed", [
    (Role.PRODUCER, ENQUEUE, True), (Role.PRODUCER, LEASE, False),
    (Role.PRODUCER, "/broker.v1.AdminService/Stats", False),
    (Role.WORKER, LEASE, True), (Role.WORKER, "/broker.v1.JobService/Ack", True),
    (Role.WORKER, ENQUEUE, False), (Role.WORKER, "/broker.v1.AdminService/GetJob", False),
    (Role.ADMIN, ENQUEUE, True), (Role.ADMIN, LEASE, True), (Role.ADMIN, "/broker.v1.AdminService/PurgeJobs", True),
    (Role.WORKER, "/broker.v1.JobService/SomethingNew", False),
    (Role.ADMIN, "/broker.v1.JobService/SomethingNew", True),
])
async def test_authorization_by_role(role, method, allowed):
    async def as_role(request, context):
        principal.set(Principal("k", "n", role))
        return await AuthorizationStage()(_call(method), _proceed)

    # RequestIdStage gives the call fresh contextvars and resets them afterwards.
    if allowed:
        assert await run_stages([RequestIdStage()], as_role, method=method) == "done"
    else:
        with pytest.raises(errors.PermissionDenied):
            await run_stages([RequestIdStage()], as_role, method=method)


async def test_authorization_refuses_a_call_without_principal():
    with pytest.raises(errors.PermissionDenied):
        await run_stages([AuthorizationStage()], ok)


# -- rate limiting

async def test_rate_limit_per_principal_and_class():
    now = [0.0]
    limiter = RateLimiter({"enqueue": Rate(1, 2)}, clock=lambda: now[0])
    stage = RateLimitStage(limiter)

    async def as_(who, method=ENQUEUE):
        async def handler(request, context):
            principal.set(who)
            return await stage(_call(method), _proceed)
        return await run_stages([RequestIdStage()], handler, method=method)

    other = Principal("k2", "others", Role.PRODUCER)
    assert [await as_(WORKER), await as_(WORKER)] == ["done", "done"]
    with pytest.raises(errors.ResourceExhausted) as refused:
        await as_(WORKER)
    assert refused.value.retry_after == pytest.approx(1.0)
    assert await as_(other) == "done"            # another principal has its own bucket
    assert await as_(WORKER, LEASE) == "done"    # an unlimited class
    now[0] += 1.0
    assert await as_(WORKER) == "done"           # refilled


# -- deadline

async def test_deadline_refuses_work_whose_deadline_passed():
    handler, calls = seen()
    with pytest.raises(errors.DeadlineExceeded):
        await run_stages([DeadlineStage()], handler, context=FakeContext(time_remaining=-0.01))
    with pytest.raises(errors.DeadlineExceeded):
        await run_stages([DeadlineStage()], handler, context=FakeContext(time_remaining=0.0))
    assert calls == []


async def test_the_deadline_is_passed_on_for_the_store_from_the_first_stage():
    handler, calls = seen()
    before = time.monotonic()
    await run_stages([RequestIdStage()], handler, context=FakeContext(time_remaining=2.0))
    await run_stages([RequestIdStage()], handler, context=FakeContext(time_remaining=None))
    assert before + 1.9 < calls[0]["deadline"] < time.monotonic() + 2.0
    assert calls[1]["deadline"] is None
    assert deadline.get() is None

async def test_the_adapter_wraps_each_method_once():
    calls = []

    async def continuation(details):
        calls.append(details.method)
        return grpc.unary_unary_rpc_method_handler(ok)

    adapter = PipelineInterceptor([DeadlineStage()])
    first = await adapter.intercept_service(continuation, Details(ENQUEUE))
    again = await adapter.intercept_service(continuation, Details(ENQUEUE))
    other = await adapter.intercept_service(continuation, Details(LEASE))
    assert first is again and other is not first and calls == [ENQUEUE, LEASE]

    async def unknown(details):
        return None

    assert await adapter.intercept_service(unknown, Details("/x.Y/Z")) is None
    assert "/x.Y/Z" not in adapter._wrapped


def _call(method=ENQUEUE, request=None, metadata=(), deadline=None):
    return Call(method, request, metadata, lambda: "ipv4:127.0.0.1:5555", deadline, ok)


async def _proceed(call):
    return "done"


# -- in flight (load shedding)

def _gate():
    """A handler that holds every call until `release` is set."""
    release, entered = asyncio.Event(), []

    async def handler(request, context):
        entered.append(request)
        await release.wait()
        return "done"
    return handler, release, entered


async def _settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_in_flight_bound_sheds_the_excess_with_jittered_retry_info_and_frees_slots():
    import random

    from broker.interface.grpc.interceptors import InFlightStage
    from broker.v1 import job_service_pb2 as pb

    stage = InFlightStage(max_calls=2, max_long_polls=1, rng=random.Random(3))
    handler, release, entered = _gate()
    held = [asyncio.ensure_future(run_stages([ErrorStage(), stage], handler, request=i)) for i in range(2)]
    await _settle()
    assert stage.calls == 2 and len(entered) == 2
    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await run_stages([ErrorStage(), stage], handler, request=3, context=ctx)
    assert ctx.status == grpc.StatusCode.RESOURCE_EXHAUSTED and "BROKER_MAX_IN_FLIGHT" in ctx.message
    status = status_pb2.Status.FromString(dict(ctx.trailers)["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and 0.1 <= info.retry_delay.ToNanoseconds() / 1e9 <= 1.0
    # A long poll has its own bound; health checks are never shed.
    poll = pb.LeaseRequest(queues=["q"], worker_id="w", max_jobs=1, wait={"seconds": 5})
    waiting = asyncio.ensure_future(run_stages([stage], handler, request=poll, method=LEASE))
    assert await run_stages([stage], ok, method=HEALTH) == "done"
    await _settle()
    assert stage.long_polls == 1 and stage.calls == 2
    with pytest.raises(errors.ResourceExhausted, match="BROKER_MAX_LONG_POLLS"):
        await run_stages([stage], handler, request=poll, method=LEASE)
    release.set()
    assert await asyncio.gather(*held, waiting) == ["done"] * 3
    assert stage.calls == 0 and stage.long_polls == 0


async def test_in_flight_slot_is_freed_when_the_call_fails_or_is_cancelled():
    from broker.interface.grpc.interceptors import InFlightStage

    stage = InFlightStage(max_calls=1, max_long_polls=1)

    async def boom(request, context):
        raise errors.Unavailable()

    with pytest.raises(errors.Unavailable):
        await run_stages([stage], boom, method="/broker.v1.JobService/Ack")
    handler, _release, _ = _gate()
    task = asyncio.ensure_future(run_stages([stage], handler))
    await _settle()
    assert stage.calls == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stage.calls == 0
    assert await run_stages([stage], ok, method="/broker.v1.JobService/Nack") == "done"
