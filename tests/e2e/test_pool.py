"""The connection pool under load: far more concurrent RPCs than connections all complete; an
exhausted pool answers UNAVAILABLE within the caller's deadline (never a hang); a statement cut
off by statement_timeout is UNAVAILABLE, not INTERNAL."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import grpc
import pytest

from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from tests.brokers import fresh_database, running_broker
from tests.e2e.helpers import enqueue, lease, ref, spec

POOL = {"BROKER_POOL_MIN": "1", "BROKER_POOL_MAX": "2"}


@pytest.fixture(scope="module")
async def small(database_url):
    # The in-flight bound above the 300 concurrent calls below: these tests are about waiting
    # for a connection, not about shedding (tests/e2e/test_overload.py).
    async with fresh_database(database_url) as url, running_broker(
            url, BROKER_ACQUIRE_TIMEOUT="1.5", BROKER_STATEMENT_TIMEOUT="0.5", BROKER_MAX_IN_FLIGHT="1000",
            **POOL) as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            own = await asyncpg.create_pool(url, min_size=1, max_size=2)
            try:
                yield broker, job_service_pb2_grpc.JobServiceStub(channel), own
            finally:
                await own.close()


async def test_many_more_concurrent_rpcs_than_connections_all_complete(database_url, queue):
    # A broker of its own whose calls may wait long for a connection: 300 calls queue behind two
    # connections, and on a loaded machine the last waited past the 1.5 s the others use.
    async with fresh_database(database_url) as url, running_broker(
            url, BROKER_ACQUIRE_TIMEOUT="25", BROKER_MAX_IN_FLIGHT="1000", **POOL) as broker:
        assert broker._pool.get_max_size() == 2
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            calls = [jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)), timeout=30) for _ in range(300)]
            replies = await asyncio.gather(*calls)
        assert len({r.job_id for r in replies}) == 300
        db = await asyncpg.connect(url)
        try:
            assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 300
        finally:
            await db.close()


async def _hold_all(broker):
    return [await broker._pool.acquire() for _ in range(broker._pool.get_max_size())]


async def test_exhausted_pool_is_unavailable_within_the_deadline(small, queue):
    broker, jobs, _ = small
    held = await _hold_all(broker)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)), timeout=0.6)
        took = time.monotonic() - started
    finally:
        for conn in held:
            await broker._pool.release(conn)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
    assert "no database connection" in refused.value.details()
    assert took < 0.6


async def test_exhausted_pool_without_deadline_gives_up_after_the_acquire_timeout(small, queue):
    broker, jobs, _ = small
    held = await _hold_all(broker)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)))
        took = time.monotonic() - started
    finally:
        for conn in held:
            await broker._pool.release(conn)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert 1.4 < took < 5


async def test_statement_timeout_is_unavailable(small, queue):
    broker, jobs, db = small
    await enqueue(jobs, queue)
    [leased] = await lease(jobs, queue)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM broker_jobs WHERE id = $1 FOR UPDATE", leased.job.id)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await jobs.Ack(pb.AckRequest(leases=[ref(leased)]), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
    reply = await jobs.Ack(pb.AckRequest(leases=[ref(leased)]))  # the retry succeeds
    assert reply.results[0].outcome == pb.LEASE_OUTCOME_OK
