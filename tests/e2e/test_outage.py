"""The database going away: UNAVAILABLE and NOT_SERVING; back again: service without a restart."""

import asyncio

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from broker import app
from broker.v1 import job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc
from tests.conftest import broker_settings
from tests.e2e.helpers import spec
from tests.support import TcpProxy

pytestmark = pytest.mark.slow
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


async def eventually(check, attempts: int = 200, pause: float = 0.05):
    """Poll `check` until it returns a truthy value (bounded; not a timing assertion)."""
    for _ in range(attempts):
        result = await check()
        if result:
            return result
        await asyncio.sleep(pause)
    raise AssertionError("condition never held")


async def test_database_outage_and_recovery(own_database, queue):
    proxy = TcpProxy(own_database)
    await proxy.start()
    broker = await app.start(broker_settings(proxy.url, BROKER_ACQUIRE_TIMEOUT="2"))
    try:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            acknowledged = [(await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)))).job_id]
            assert (await health.Check(health_pb2.HealthCheckRequest())).status == SERVING

            await proxy.cut()
            for _ in range(5):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)))
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1))
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE

            async def not_serving():
                return (await health.Check(health_pb2.HealthCheckRequest())).status == NOT_SERVING
            await eventually(not_serving)

            await proxy.restore()

            async def enqueue_works():
                try:
                    acknowledged.append((await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)))).job_id)
                    return True
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE
                    return False
            await eventually(enqueue_works)

            async def serving():
                return (await health.Check(health_pb2.HealthCheckRequest())).status == SERVING
            await eventually(serving)
            leased = (await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=10))).jobs
            assert sorted(j.job.id for j in leased) == sorted(acknowledged)
            await jobs.Ack(pb.AckRequest(leases=[pb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token)
                                                 for j in leased]))
    finally:
        await broker.stop(grace=1)
        await proxy.cut()
    conn = await asyncpg.connect(own_database)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue)
    finally:
        await conn.close()
    assert stored == len(acknowledged)  # every acknowledged enqueue is there, none of the refused
