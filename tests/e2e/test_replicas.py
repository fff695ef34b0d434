"""Two broker processes on one database serve leases with no double delivery.
They run on a database of their own, so the event-log check looks there."""

import asyncio
from collections import Counter

import asyncpg
import grpc
import pytest

from broker.v1 import job_service_pb2 as pb
from broker.v1 import admin_service_pb2_grpc, job_service_pb2_grpc
from tests.brokers import fresh_database
from tests.e2e.helpers import spec
from tests.e2e.conftest import check_event_log
from tests.support import job_log_records, spawn_broker

pytestmark = pytest.mark.slow


async def test_two_brokers_share_the_work_without_double_delivery(own_database, queue):
    with spawn_broker(own_database) as one, spawn_broker(own_database) as two:
        async with grpc.aio.insecure_channel(one.address) as ch1, grpc.aio.insecure_channel(two.address) as ch2:
            stubs = [job_service_pb2_grpc.JobServiceStub(ch) for ch in (ch1, ch2)]
            await stubs[0].EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue) for _ in range(500)]))
            await stubs[1].EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue) for _ in range(500)]))
            seen: list[tuple[int, str]] = []

            async def worker(n: int) -> None:
                stub = stubs[n % 2]
                while True:
                    got = (await stub.Lease(pb.LeaseRequest(queues=[queue], worker_id=f"w{n}", max_jobs=20))).jobs
                    if not got:
                        return
                    seen.extend((n % 2, j.job.id) for j in got)
                    refs = [pb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token) for j in got]
                    results = (await stub.Ack(pb.AckRequest(leases=refs))).results
                    assert all(r.outcome == pb.LEASE_OUTCOME_OK for r in results)

            await asyncio.gather(*(worker(n) for n in range(6)))
    counts = Counter(job_id for _, job_id in seen)
    assert len(counts) == 1000 and set(counts.values()) == {1}
    assert {broker for broker, _ in seen} == {0, 1}  # both replicas served leases
    pool = await asyncpg.create_pool(own_database, min_size=1, max_size=1)
    try:
        await check_event_log(pool, queue, job_log_records(one.log_path) + job_log_records(two.log_path))
        assert await pool.fetchval("SELECT count(*) FROM broker_events WHERE queue = $1", queue) == 3000
    finally:
        await pool.close()


# The waiting replica looks for ready jobs on its own only every hour (far longer than any wait
# here) and never reaps: only a notification from the other replica can wake its long poll.
DEAF = {"BROKER_LONG_POLL_RECHECK": "3600", "BROKER_REAPER_INTERVAL": "3600"}


@pytest.fixture(scope="module")
async def replicas(database_url):
    """Two brokers on a database of their own: `one` (DEAF) waits, `two` changes the jobs."""
    async with fresh_database(database_url) as url:
        with spawn_broker(url, env=DEAF) as one, spawn_broker(url) as two:
            async with grpc.aio.insecure_channel(one.address) as ch1, \
                    grpc.aio.insecure_channel(two.address) as ch2:
                yield (job_service_pb2_grpc.JobServiceStub(ch1), job_service_pb2_grpc.JobServiceStub(ch2),
                       admin_service_pb2_grpc.AdminServiceStub(ch2))


async def woken(waiter, queue, make_ready) -> list[str]:
    """Start a long poll on `waiter`, let it settle into its wait, call `make_ready`; the ids of
    the jobs the poll returned (it fails after 10 s, far inside the poll's 30 s wait)."""
    await waiter.Lease(pb.LeaseRequest(queues=[queue], worker_id="warm-up", max_jobs=1))  # channel up
    waiting = asyncio.ensure_future(waiter.Lease(pb.LeaseRequest(
        queues=[queue], worker_id="waiter", max_jobs=1, wait={"seconds": 30})))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await make_ready()
    return [j.job.id for j in (await asyncio.wait_for(waiting, 10)).jobs]


async def test_a_long_poll_on_one_replica_wakes_for_a_job_enqueued_on_the_other(replicas, queue):
    one, two, _ = replicas
    enqueued = []

    async def enqueue():
        enqueued.append((await two.Enqueue(pb.EnqueueRequest(job=spec(queue)))).job_id)

    assert await woken(one, queue, enqueue) == enqueued
