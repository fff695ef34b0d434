"""Two broker processes on one database serve leases with no double delivery.
They run on a database of their own, so the event-log check looks there."""

import asyncio
from collections import Counter
from dataclasses import dataclass

import asyncpg
import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb
from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb
from broker.v1 import admin_service_pb2_grpc, job_service_pb2_grpc
from tests.brokers import fresh_database
from tests.e2e.helpers import duration, enqueue, lease, nack, spec
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


@dataclass
class Replicas:
    one: job_service_pb2_grpc.JobServiceStub  # waits (DEAF)
    two: job_service_pb2_grpc.JobServiceStub  # changes the jobs
    admin: admin_service_pb2_grpc.AdminServiceStub  # on `two`
    db: asyncpg.Pool
    logs: tuple[str, str]


@pytest.fixture(scope="module")
async def replicas_of_module(database_url):
    async with fresh_database(database_url) as url:
        with spawn_broker(url, env=DEAF) as one, spawn_broker(url) as two:
            async with grpc.aio.insecure_channel(one.address) as ch1, \
                    grpc.aio.insecure_channel(two.address) as ch2:
                pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
                try:
                    yield Replicas(job_service_pb2_grpc.JobServiceStub(ch1), job_service_pb2_grpc.JobServiceStub(ch2),
                                   admin_service_pb2_grpc.AdminServiceStub(ch2), pool, (one.log_path, two.log_path))
                finally:
                    await pool.close()


@pytest.fixture
async def replicas(replicas_of_module, queue):
    """Two brokers on a database of their own; the test's event log is checked there after it."""
    yield replicas_of_module
    r = replicas_of_module
    await check_event_log(r.db, queue, [*job_log_records(r.logs[0]), *job_log_records(r.logs[1])])


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


async def nothing() -> None:
    """The change comes by itself (the other replica's reaper)."""


async def test_a_long_poll_on_one_replica_wakes_for_a_job_enqueued_on_the_other(replicas, queue):
    enqueued = []

    async def enqueue():
        enqueued.append((await replicas.two.Enqueue(pb.EnqueueRequest(job=spec(queue)))).job_id)

    assert await woken(replicas.one, queue, enqueue) == enqueued


async def test_a_long_poll_on_one_replica_wakes_for_a_retry_due_now_on_the_other(replicas, queue):
    [job_id] = await enqueue(replicas.two, queue)
    [leased] = await lease(replicas.two, queue)

    async def retry_at_once():
        [result] = await nack(replicas.two, leased, retry_after=duration(0))
        assert result.outcome == pb.LEASE_OUTCOME_OK

    assert await woken(replicas.one, queue, retry_at_once) == [job_id]


async def test_a_long_poll_on_one_replica_wakes_for_a_lease_the_other_reaped(replicas, queue):
    # The lease lapses a second after it began, once the poll waits; `two` reaps every 0.2 s
    # and retries at once (no backoff).
    [job_id] = await enqueue(replicas.two, queue, lease_duration=duration(1),
                             retry_policy=job_pb2.RetryPolicy(initial_delay=duration(0)))
    await lease(replicas.two, queue)

    assert await woken(replicas.one, queue, nothing) == [job_id]


async def test_a_long_poll_on_one_replica_wakes_for_a_job_the_other_redrove(replicas, queue):
    [job_id] = await enqueue(replicas.two, queue)
    [leased] = await lease(replicas.two, queue)
    await nack(replicas.two, leased, permanent=True)

    async def redrive():
        response = await replicas.admin.RedriveJobs(apb.RedriveJobsRequest(job_ids=[job_id]))
        assert list(response.job_ids) == [job_id]

    assert await woken(replicas.one, queue, redrive) == [job_id]
