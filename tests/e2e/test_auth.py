"""Authentication and authorization through the real server: API keys as bearer tokens,
roles, identical refusals, revocation."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc
from tests.brokers import fresh_database, key_admin, running_broker
from tests.e2e.helpers import spec

UNAUTH, DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
async def auth_db(database_url):
    async with fresh_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
async def keys(auth_db):
    async with key_admin(auth_db) as admin:
        made = {role: await admin.create(f"test-{role}", role) for role in ("producer", "worker", "admin")}
        revoked = await admin.create("test-revoked", "admin")
        await admin.revoke(revoked.key.id)
        yield {**{role: m.token for role, m in made.items()}, "revoked": revoked.token}


@pytest.fixture(scope="module")
async def secured(auth_db):
    async with running_broker(auth_db, BROKER_AUTH="true", BROKER_AUTH_CACHE_TTL="0.2") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            yield channel


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


async def code_of(call):
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details()
    return grpc.StatusCode.OK, ""


async def test_missing_wrong_unknown_and_revoked_keys_are_refused_alike(secured, keys):
    jobs = job_service_pb2_grpc.JobServiceStub(secured)
    request = pb.EnqueueRequest(job=spec("auth-q"))
    admin_token = keys["admin"]
    key_id = admin_token.split("_")[1]
    attempts = [(), (("authorization", "Basic abc"),), bearer(""), bearer("nonsense"),
                bearer(admin_token[:-2] + "xx"), bearer(f"brk_{'0' * 16}_{'a' * 43}"),
                bearer(f"brk_{key_id}_short"), bearer(keys["revoked"])]
    outcomes = {await code_of(jobs.Enqueue(request, metadata=m)) for m in attempts}
    assert len(outcomes) == 1
    [(code, details)] = outcomes
    assert code == UNAUTH and "Bearer" in details


@pytest.mark.parametrize("role, allowed", [
    ("producer", {"Enqueue", "EnqueueBatch", "GetJob"}),
    ("worker", {"Lease", "Heartbeat", "Ack", "Nack"}),
    ("admin", {"Enqueue", "EnqueueBatch", "Lease", "Heartbeat", "Ack", "Nack", "GetJob", "ListJobs", "Stats"}),
])
async def test_roles(secured, keys, role, allowed, queue):
    jobs = job_service_pb2_grpc.JobServiceStub(secured)
    admin = admin_service_pb2_grpc.AdminServiceStub(secured)
    md = bearer(keys[role])
    calls = {
        "Enqueue": jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)), metadata=md),
        "EnqueueBatch": jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue)]), metadata=md),
        "Lease": jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1), metadata=md),
        "Heartbeat": jobs.Heartbeat(pb.HeartbeatRequest(leases=[_ref()]), metadata=md),
        "Ack": jobs.Ack(pb.AckRequest(leases=[_ref()]), metadata=md),
        "Nack": jobs.Nack(pb.NackRequest(items=[pb.NackItem(lease=_ref())]), metadata=md),
        "GetJob": admin.GetJob(apb.GetJobRequest(job_id=_ref().job_id), metadata=md),  # allowed: NOT_FOUND
        "ListJobs": admin.ListJobs(apb.ListJobsRequest(), metadata=md),
        "Stats": admin.Stats(apb.StatsRequest(queues=[queue]), metadata=md),
    }
    for name, call in calls.items():
        code, details = await code_of(call)
        if name in allowed:
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND), (role, name, details)
        else:
            assert code == DENIED, (role, name, code)
            assert role in details


def _ref():
    return pb.LeaseRef(job_id="00000000-0000-0000-0000-000000000000", lease_token="t")


async def test_health_needs_no_key(secured):
    reply = await health_pb2_grpc.HealthStub(secured).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_revocation_takes_effect_within_the_cache_ttl(secured, auth_db):
    """And a key made while the broker runs works within it (the broker reads the set of key ids
    at most once per ttl: a made-up key id costs no lookup)."""
    import asyncio

    jobs = job_service_pb2_grpc.JobServiceStub(secured)
    async with key_admin(auth_db) as admin:
        made = await admin.create("soon-revoked", "producer")
        request = pb.EnqueueRequest(job=spec("auth-revoke"))
        await asyncio.sleep(0.3)
        await jobs.Enqueue(request, metadata=bearer(made.token))
        await admin.revoke(made.key.id)
    await asyncio.sleep(0.3)
    assert (await code_of(jobs.Enqueue(request, metadata=bearer(made.token))))[0] == UNAUTH


async def test_a_flood_of_made_up_key_ids_is_refused_and_real_keys_keep_working(secured, keys):
    import asyncio

    jobs = job_service_pb2_grpc.JobServiceStub(secured)
    request = pb.EnqueueRequest(job=spec("auth-flood"))
    flood = [jobs.Enqueue(request, metadata=bearer(f"brk_{i:016x}_{'a' * 43}")) for i in range(300)]
    outcomes = await asyncio.gather(*(code_of(call) for call in flood))
    assert {code for code, _ in outcomes} == {UNAUTH}
    assert (await code_of(jobs.Enqueue(request, metadata=bearer(keys["producer"]))))[0] == grpc.StatusCode.OK


async def test_keys_are_stored_as_hashes_only(auth_db, keys):
    import asyncpg

    conn = await asyncpg.connect(auth_db)
    try:
        rows = await conn.fetch("SELECT id, token_hash FROM broker_api_keys")
    finally:
        await conn.close()
    stored = b"".join(bytes(r["token_hash"]) + r["id"].encode() for r in rows)
    for token in keys.values():
        assert token.encode() not in stored and token.split("_", 2)[2].encode() not in stored


async def test_the_dashboard_api_needs_an_admin_key(auth_db, keys):
    import aiohttp

    async with running_broker(auth_db, BROKER_AUTH="true") as broker:
        base = f"http://127.0.0.1:{broker.http_port}"
        async with aiohttp.ClientSession() as http:
            async def status(path, token=None, method="GET"):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.request(method, base + path, headers=headers,
                                        json={"job_ids": []} if method == "POST" else None) as r:
                    return r.status

            assert await status("/api/overview") == 401
            assert await status("/api/overview", "brk_0123456789abcdef_nope") == 401
            assert await status("/api/overview", keys["revoked"]) == 401
            assert await status("/api/overview", keys["worker"]) == 403
            assert await status("/api/purge", keys["producer"], "POST") == 403
            assert await status("/api/overview", keys["admin"]) == 200
            assert [await status(p) for p in ("/healthz", "/metrics", "/")] == [200, 200, 200]
