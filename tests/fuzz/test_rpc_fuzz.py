"""Every RPC with arbitrary field values and metadata (Hypothesis): never INTERNAL or UNKNOWN,
never a crash, a clear status with a message, and the database unchanged when the call is
refused. Runs against a broker of its own, with authentication on, on a database of its own
with no background changes (the reaper and pruner run once at start, on an empty database)."""

from __future__ import annotations

import os
import random

import asyncpg
import grpc
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from broker import app
from broker.infra.clock import SystemClock
from broker.v1 import admin_service_pb2, callback_pb2, job_pb2, job_service_pb2, webhook_source_pb2
from tests.conftest import broker_settings as _settings, migrated_database
from tests.fuzz.wire import message, metadata

pytestmark = pytest.mark.slow

METHODS = [(f"/{svc.full_name}/{m.name}", m)
           for module, name in ((job_service_pb2, "JobService"), (admin_service_pb2, "AdminService"))
           for svc in [module.DESCRIPTOR.services_by_name[name]] for m in svc.methods
           if not m.client_streaming]  # WorkerSession: test_any_session_call_gets_a_clear_answer
SESSION_PATH = "/broker.v1.JobService/WorkerSession"
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
         grpc.StatusCode.CANCELLED, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DATA_LOSS}
FINGERPRINT = """SELECT (SELECT count(*) FROM broker_jobs),
    (SELECT coalesce(sum(hashtext(j::text)::numeric), 0) FROM broker_jobs j),
    (SELECT coalesce(sum(hashtext(s::text)::numeric), 0) FROM broker_schedules s),
    (SELECT coalesce(sum(hashtext(q::text)::numeric), 0) FROM broker_queues q),
    (SELECT count(*) FROM broker_queue_events),
    (SELECT coalesce(sum(hashtext(c::text)::numeric), 0) FROM broker_callbacks c),
    (SELECT coalesce(sum(hashtext(w::text)::numeric), 0) FROM broker_webhook_sources w),
    (SELECT coalesce(sum(hashtext(b::text)::numeric), 0) FROM broker_queue_breakers b),
    (SELECT count(*) FROM broker_breaker_events),
    (SELECT coalesce(sum(hashtext(r::text)::numeric), 0) FROM broker_queue_retry r),
    (SELECT coalesce(max(id), 0) FROM broker_events), (SELECT count(*) FROM broker_events)"""
QUEUE = "fuzz-q"
SCHEDULE = "fuzz-s"
SUBSCRIPTION = "fuzz-c"
SOURCE = "fuzz-w"
HOOK_SECRET = "whsec_ZnV6emluZy1zZWNyZXQ="
# Modest by default so the suite stays fast and repeatable; for a bug hunt:
#   FUZZ_EXAMPLES=400 FUZZ_RANDOM=1 python -m pytest tests/fuzz
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))


class Target:
    def __init__(self, channel, db, tokens, known, bases) -> None:
        self.channel, self.db, self.tokens, self.known, self.bases = channel, db, tokens, known, bases


@pytest.fixture(scope="module")
async def target(database_server):
    env = {"BROKER_AUTH": "true", "BROKER_REAPER_INTERVAL": "3600", "BROKER_PRUNE_INTERVAL": "3600",
           "BROKER_ACCESS_LOG": "false", "BROKER_MAX_WAIT": "0.2",
           "BROKER_CALLBACK_DELIVERY": "false"}  # deliveries made by calls stay put: no background change
    async with migrated_database(database_server) as url:  # a database of its own
        broker = await app.start(_settings(url, **env), clock=SystemClock(), rng=random.Random(1))
        db = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            async with app.key_admin(_settings(url)) as keys:
                tokens = {role: (await keys.create(f"fuzz-{role}", role)).token
                          for role in ("producer", "worker", "admin")}
            async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
                known, bases = await _seed(channel, tokens["admin"])
                yield Target(channel, db, tokens, known, bases)
        finally:
            await broker.stop(grace=1)
            await db.close()


async def _seed(channel, token):
    """A few real jobs (one leased), so that ids, tokens and queue names in requests hit rows;
    and a valid request per method for the mutating strategy to start from."""
    md = (("authorization", f"Bearer {token}"),)
    enqueue = channel.unary_unary("/broker.v1.JobService/EnqueueBatch",
                                  job_service_pb2.EnqueueBatchRequest.SerializeToString,
                                  job_service_pb2.EnqueueBatchResponse.FromString)
    lease = channel.unary_unary("/broker.v1.JobService/Lease", job_service_pb2.LeaseRequest.SerializeToString,
                                job_service_pb2.LeaseResponse.FromString)
    spec = job_pb2.JobSpec(queue=QUEUE, kind="k", payload=b"x")
    reply = await enqueue(job_service_pb2.EnqueueBatchRequest(jobs=[spec] * 4), metadata=md)
    leased = (await lease(job_service_pb2.LeaseRequest(queues=[QUEUE], worker_id="w", max_jobs=1), metadata=md)).jobs[0]
    ids = [r.job_id for r in reply.results]
    schedule = admin_service_pb2.ScheduleSpec(name=SCHEDULE, cron="@hourly", job=spec)
    create = channel.unary_unary("/broker.v1.AdminService/CreateSchedule",
                                 admin_service_pb2.CreateScheduleRequest.SerializeToString,
                                 admin_service_pb2.CreateScheduleResponse.FromString)
    await create(admin_service_pb2.CreateScheduleRequest(schedule=schedule), metadata=md)
    hook = callback_pb2.SubscriptionSpec(name=SUBSCRIPTION, url="https://hooks.example.com/fuzz",
                                         events=["job.succeeded", "job.dead"], queue=QUEUE, secrets=[HOOK_SECRET])
    subscribe = channel.unary_unary("/broker.v1.AdminService/CreateSubscription",
                                    callback_pb2.CreateSubscriptionRequest.SerializeToString,
                                    callback_pb2.CreateSubscriptionResponse.FromString)
    await subscribe(callback_pb2.CreateSubscriptionRequest(subscription=hook), metadata=md)
    source = webhook_source_pb2.WebhookSourceSpec(name=SOURCE, scheme="standard", queue=QUEUE, kind="k",
                                                  secrets=[HOOK_SECRET])
    add_source = channel.unary_unary("/broker.v1.AdminService/CreateWebhookSource",
                                     webhook_source_pb2.CreateWebhookSourceRequest.SerializeToString,
                                     webhook_source_pb2.CreateWebhookSourceResponse.FromString)
    await add_source(webhook_source_pb2.CreateWebhookSourceRequest(source=source), metadata=md)
    known = [*ids, SCHEDULE, "@hourly", "* * * * * *", "Europe/Berlin", leased.lease_token, QUEUE, "w", "k", "", "00000000-0000-0000-0000-000000000000",
             "not-a-uuid", "a" * 129,
             SUBSCRIPTION, HOOK_SECRET, "job.succeeded", "job.failed", "https://hooks.example.com/x", "http://127.0.0.1/",
             SOURCE, "standard", "github", "header:webhook-id", "json:id"]
    ref = job_service_pb2.LeaseRef(job_id=leased.job.id, lease_token=leased.lease_token)
    other = next(i for i in ids if i != leased.job.id)
    jp, ap, cp, wp = job_service_pb2, admin_service_pb2, callback_pb2, webhook_source_pb2
    bases = {
        "Enqueue": jp.EnqueueRequest(job=spec), "EnqueueBatch": jp.EnqueueBatchRequest(jobs=[spec, spec]),
        "Lease": jp.LeaseRequest(queues=[QUEUE], worker_id="w", max_jobs=1),
        "Heartbeat": jp.HeartbeatRequest(leases=[ref], items=[jp.HeartbeatItem(
            lease=ref, progress=job_pb2.Progress(fraction=0.5, message="m"))]),
        "Ack": jp.AckRequest(leases=[ref]),
        "Nack": jp.NackRequest(items=[jp.NackItem(lease=ref, error="e")]),
        "Snooze": jp.SnoozeRequest(items=[jp.SnoozeItem(lease=ref, delay={"seconds": 1})]),
        "GetJob": ap.GetJobRequest(job_id=other), "ListJobs": ap.ListJobsRequest(queue=QUEUE, page_size=2),
        "Stats": ap.StatsRequest(queues=[QUEUE]), "RedriveJobs": ap.RedriveJobsRequest(job_ids=[other]),
        "CancelJob": ap.CancelJobRequest(job_id=other), "PurgeJobs": ap.PurgeJobsRequest(job_ids=[other]),
        "CreateSchedule": ap.CreateScheduleRequest(schedule=schedule),
        "UpdateSchedule": ap.UpdateScheduleRequest(schedule=schedule),
        "DeleteSchedule": ap.DeleteScheduleRequest(name=SCHEDULE), "ListSchedules": ap.ListSchedulesRequest(),
        **{f"{verb}Schedule": getattr(ap, f"{verb}ScheduleRequest")(name=SCHEDULE)
           for verb in ("Get", "Pause", "Resume", "Trigger")},
        "GetQueue": ap.GetQueueRequest(queue=QUEUE), "ListQueues": ap.ListQueuesRequest(),
        "UpdateQueue": ap.UpdateQueueRequest(queue=QUEUE, concurrency_limit=5, breaker=ap.BreakerSettings(probes=2),
                                             retry=ap.QueueRetry(max_attempts=3)),
        "CreateSubscription": cp.CreateSubscriptionRequest(subscription=hook),
        "UpdateSubscription": cp.UpdateSubscriptionRequest(subscription=hook),
        "GetSubscription": cp.GetSubscriptionRequest(name=SUBSCRIPTION), "ListSubscriptions": cp.ListSubscriptionsRequest(),
        "DeleteSubscription": cp.DeleteSubscriptionRequest(name=SUBSCRIPTION),
        "CreateWebhookSource": wp.CreateWebhookSourceRequest(source=source),
        "UpdateWebhookSource": wp.UpdateWebhookSourceRequest(source=source),
        "GetWebhookSource": wp.GetWebhookSourceRequest(name=SOURCE), "ListWebhookSources": wp.ListWebhookSourcesRequest(),
        "DeleteWebhookSource": wp.DeleteWebhookSourceRequest(name=SOURCE),
    }
    return known, bases


async def _call(target: Target, path: str, method, request, md):
    stub = target.channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=method.output_type._concrete_class.FromString)
    before = await target.db.fetchrow(FINGERPRINT)
    try:
        await stub(request, metadata=md, timeout=10)
    except grpc.aio.AioRpcError as err:
        assert err.code() not in NEVER, (path, err.code(), err.details(), request, md)
        assert err.details(), (path, err.code())
        after = await target.db.fetchrow(FINGERPRINT)
        assert tuple(after) == tuple(before), ("refused call changed the database", path, err.code(), request)


_STRATEGIES: dict = {}



def _request_strategy(method, target):
    if method.full_name not in _STRATEGIES:
        _STRATEGIES[method.full_name] = st.one_of(
            message(method.input_type, target.known),
            message(method.input_type, target.known, base=target.bases[method.name]))
    return _STRATEGIES[method.full_name]


@pytest.mark.parametrize("path, method", METHODS, ids=[p.rsplit("/", 1)[1] for p, _ in METHODS])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_request_gets_a_clear_status(target, path, method, data):
    request = data.draw(_request_strategy(method, target), label="request")
    md = data.draw(metadata(target.tokens), label="metadata")
    await _call(target, path, method, request, md)


@pytest.mark.parametrize("path, method", METHODS, ids=[p.rsplit("/", 1)[1] for p, _ in METHODS])
@settings(max_examples=max(10, EXAMPLES // 2), deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.binary(max_size=200))
async def test_any_bytes_get_a_clear_status(target, path, method, body):
    """Not even a message: bytes that may not parse at all."""
    raw = target.channel.unary_unary(path, request_serializer=lambda b: b,
                                     response_deserializer=method.output_type._concrete_class.FromString)
    md = (("authorization", f"Bearer {target.tokens['admin']}"),)
    before = await target.db.fetchrow(FINGERPRINT)
    try:
        await raw(body, metadata=md, timeout=10)
    except grpc.aio.AioRpcError as err:
        assert err.code() not in NEVER, (path, err.code(), err.details(), body)
        assert tuple(await target.db.fetchrow(FINGERPRINT)) == tuple(before)
        assert dict(err.trailing_metadata()).get("x-request-id")


def _session_strategy(target):
    if "session" not in _STRATEGIES:
        jp = job_service_pb2
        desc = jp.SessionRequest.DESCRIPTOR
        based = [jp.SessionRequest(id=7, **{field: target.bases[name]})
                 for field, name in (("lease", "Lease"), ("heartbeat", "Heartbeat"), ("ack", "Ack"), ("nack", "Nack"),
                                                 ("snooze", "Snooze"))]
        _STRATEGIES["session"] = st.one_of(message(desc, target.known),
                                           *(message(desc, target.known, base=b) for b in based))
    return _STRATEGIES["session"]


@settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_session_call_gets_a_clear_answer(target, data):
    """A call on a worker session: a result, or an error with a clear code that changed nothing;
    the stream itself ends OK."""
    request = data.draw(_session_strategy(target), label="request")
    md = data.draw(metadata(target.tokens), label="metadata")
    jp = job_service_pb2
    call = target.channel.stream_stream(SESSION_PATH, request_serializer=jp.SessionRequest.SerializeToString,
                                        response_deserializer=jp.SessionResponse.FromString)(metadata=md, timeout=10)
    before = await target.db.fetchrow(FINGERPRINT)
    await call.write(request)
    await call.done_writing()
    if request.WhichOneof("call") == "cancel":  # gives up a call: never answered itself
        assert await call.read() == grpc.aio.EOF and await call.code() == grpc.StatusCode.OK
        return
    answer = await call.read()
    assert answer.id == request.id
    if answer.WhichOneof("result") == "error":
        code = grpc.StatusCode(_code(answer.error.code))
        tiny = request.HasField("timeout") and request.timeout.ToNanoseconds() < 1_000_000_000
        # A call that gives itself under a second may find its deadline passed: that is clear.
        assert code not in NEVER or (tiny and code == grpc.StatusCode.DEADLINE_EXCEEDED), (answer.error, request, md)
        assert answer.error.message, (answer.error, request)
        after = await target.db.fetchrow(FINGERPRINT)
        assert tuple(after) == tuple(before), ("refused call changed the database", answer.error, request)
    assert await call.read() == grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


def _code(value: int):
    return next(c for c in grpc.StatusCode if c.value[0] == value).value
