"""No leak: after thousands of RPCs, cancelled, timed-out and refused ones included, the
broker's database connections, asyncio tasks and file descriptors are back at their baseline
(give or take the pool's size)."""

from __future__ import annotations

import asyncio
import os

import grpc

from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from tests.brokers import fresh_database, running_broker
from tests.e2e.helpers import duration, spec

POOL_MAX = 4
ROUNDS = 25  # x 100 calls



def clients_waiting(broker) -> dict:
    """The long polls registered for the clients' queues (the broker's own callback deliveries
    wait on the internal queue _broker.callbacks for as long as it runs)."""
    return {q: w for q, w in broker._notifier._waiters.items() if not q.startswith("_broker.")}

async def _connections(db, url: str) -> int:
    return await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'broker' "
                             "AND datname = $1", url.rsplit("/", 1)[1].split("?")[0])


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _quiet(call):
    try:
        return await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    except asyncio.CancelledError:
        return grpc.StatusCode.CANCELLED


async def _round(jobs, queue: str) -> list:
    calls = []
    for i in range(20):
        calls.append(jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue)] * 3)))
        calls.append(jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=2)))
        calls.append(jobs.Enqueue(pb.EnqueueRequest(job=spec("bad queue!"))))           # refused
        calls.append(jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)), timeout=0.0005))  # times out
    polls = [jobs.Lease(pb.LeaseRequest(queues=[f"{queue}-idle"], worker_id="w", max_jobs=1, wait=duration(10)))
             for _ in range(20)]                                                         # cancelled
    pending = [asyncio.ensure_future(_quiet(c)) for c in calls + polls]
    await asyncio.sleep(0.02)
    for poll in polls:
        poll.cancel()
    return await asyncio.gather(*pending)


async def test_no_leaks_after_thousands_of_rpcs(database_url, db, queue):
    async with fresh_database(database_url) as url, running_broker(
            url, BROKER_POOL_MIN="1", BROKER_POOL_MAX=str(POOL_MAX), BROKER_ACCESS_LOG="false") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            await _round(jobs, queue)  # warm up: the channel, the pool, prepared statements
            baseline = (await _connections(db, url), len(asyncio.all_tasks()), _fds())

            outcomes = []
            for _ in range(ROUNDS):
                outcomes += await _round(jobs, queue)
            codes = {o if isinstance(o, grpc.StatusCode) else grpc.StatusCode.OK for o in outcomes}
            assert len(outcomes) == ROUNDS * 100
            assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.CANCELLED,
                    grpc.StatusCode.DEADLINE_EXCEEDED} <= codes
            assert grpc.StatusCode.INTERNAL not in codes and grpc.StatusCode.UNKNOWN not in codes

            after = await _settled(db, url, baseline)
            assert after[0] <= baseline[0] + POOL_MAX, ("connections", baseline, after)
            assert after[1] <= baseline[1] + POOL_MAX, ("tasks", baseline, after)
            assert after[2] <= baseline[2] + POOL_MAX, ("file descriptors", baseline, after)
            assert clients_waiting(broker) == {}  # every cancelled long poll unregistered


async def _settled(db, url, baseline, tries: int = 50):
    """Cancelled handlers finish on their own schedule: look until the counts settle (or give up
    and let the assertions report what is left)."""
    for _ in range(tries):
        now = (await _connections(db, url), len(asyncio.all_tasks()), _fds())
        if all(n <= b for n, b in zip(now, baseline)):
            return now
        await asyncio.sleep(0.1)
    return now


async def _session_round(jobs, queue: str) -> None:
    """Ten sessions: calls answered, a call given up, a stream left mid long poll, a refusal."""
    for i in range(10):
        call = jobs.WorkerSession()
        lease = pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=2)
        idle = pb.LeaseRequest(queues=[f"{queue}-idle"], worker_id="w", max_jobs=1, wait=duration(10))
        await call.write(pb.SessionRequest(id=1, lease=lease))
        await call.write(pb.SessionRequest(id=2, lease=idle))
        await call.write(pb.SessionRequest(id=3, cancel=2))
        await call.write(pb.SessionRequest(id=4, ack=pb.AckRequest(leases=[pb.LeaseRef(job_id="x", lease_token="t")])))
        answers = {(await call.read()).id for _ in range(2)}
        assert answers == {1, 4}
        if i % 2:
            await call.write(pb.SessionRequest(id=5, lease=idle))  # then the worker goes away
            await asyncio.sleep(0.01)
            call.cancel()
        else:
            await call.done_writing()
            assert await call.read() == grpc.aio.EOF


async def test_no_leaks_after_hundreds_of_sessions(database_url, db, queue):
    async with fresh_database(database_url) as url, running_broker(
            url, BROKER_POOL_MIN="1", BROKER_POOL_MAX=str(POOL_MAX), BROKER_ACCESS_LOG="false") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            await _session_round(jobs, queue)  # warm up
            baseline = (await _connections(db, url), len(asyncio.all_tasks()), _fds())
            for _ in range(20):
                await _session_round(jobs, queue)
            after = await _settled(db, url, baseline)
            assert after[0] <= baseline[0] + POOL_MAX, ("connections", baseline, after)
            assert after[1] <= baseline[1] + POOL_MAX, ("tasks", baseline, after)
            assert after[2] <= baseline[2] + POOL_MAX, ("file descriptors", baseline, after)
            assert clients_waiting(broker) == {}  # every given-up and abandoned long poll unregistered
