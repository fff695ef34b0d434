"""Claim coalescing against real PostgreSQL and gRPC: many concurrent long polls (unary and on
worker sessions) on one queue share claims (broker_claim_calls says so), every job is delivered
exactly once, each lease is fenced to its own call, a call cancelled while its share is being
claimed loses nothing (its jobs are released at once, not left leased until expiry), and a
queue's concurrency limit holds under coalescing. Each test ends with the event-log check of
tests/e2e/conftest.py on its own database."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc
from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from tests.brokers import running_broker
from tests.e2e.conftest import check_event_log
from tests.e2e.helpers import duration, enqueue, ref
from tests.e2e.observe import scrape
from tests.e2e.test_session import Session

POLLS, SESSIONS, JOBS = 24, 8, 240
LONG = duration(12 * 3600)  # no lease lapses during a test


@pytest.fixture
async def own_db(own_database, caplog, queue):
    """A pool on this test's own database, and the event-log check on it afterwards."""
    caplog.set_level(logging.INFO, logger="broker.jobs")
    pool = await asyncpg.create_pool(own_database, min_size=1, max_size=4)
    yield pool
    await check_event_log(pool, queue, caplog.get_records("setup") + caplog.get_records("call"))
    await pool.close()


def claims(samples) -> tuple[float, float]:
    return samples.get_value("broker_claim_calls_count"), samples.get_value("broker_claim_calls_sum")


async def unary_poller(stub, queue: str, worker: str, got: list, done: asyncio.Event) -> None:
    request = pb.LeaseRequest(queues=[queue], worker_id=worker, max_jobs=3, wait=duration(1), lease_duration=LONG)
    while not done.is_set():
        got += [(worker, j) for j in (await stub.Lease(request, timeout=5)).jobs]


async def session_poller(stub, queue: str, worker: str, got: list, done: asyncio.Event) -> None:
    session = Session(stub)
    request = pb.LeaseRequest(queues=[queue], worker_id=worker, max_jobs=2, wait=duration(1), lease_duration=LONG)
    while not done.is_set():
        got += [(worker, j) for j in (await session.ask(lease=request)).lease.jobs]
    await session.close()


async def test_many_long_polls_share_claims_and_each_job_reaches_one_call(own_database, own_db, queue):
    async with running_broker(own_database, BROKER_CLAIM_CLAIMERS="1") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            _, before = await scrape(broker.http_port)
            got: list = []
            done = asyncio.Event()
            polls = [asyncio.create_task(unary_poller(stub, queue, f"u{i}", got, done)) for i in range(POLLS)]
            polls += [asyncio.create_task(session_poller(stub, queue, f"s{i}", got, done)) for i in range(SESSIONS)]
            ids = []
            for _ in range(JOBS // 40):  # bursts while the polls wait, and a backlog they race for
                ids += await enqueue(stub, queue, 40)
                await asyncio.sleep(0.05)
            while len(got) < len(ids):
                await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*polls)
            _, after = await scrape(broker.http_port)

            delivered = [j.job.id for _, j in got]
            assert sorted(delivered) == sorted(ids)  # every job, each exactly once
            rows = {r[0]: r for r in await own_db.fetch(
                "SELECT id::text, worker_id, lease_token::text, state FROM broker_jobs WHERE queue = $1", queue)}
            assert all((rows[j.job.id][1], rows[j.job.id][2]) == (worker, j.lease_token) for worker, j in got)
            leased_by = {r[0]: r[1] for r in await own_db.fetch(
                "SELECT job_id::text, worker_id FROM broker_events WHERE queue = $1 AND reason = 'lease'", queue)}
            assert all(leased_by[j.job.id] == worker for worker, j in got)  # the lease event names its call

            (wa, a), (wb, b) = got[0], next(g for g in got if g[0] != got[0][0])
            stolen = await stub.Ack(pb.AckRequest(leases=[pb.LeaseRef(job_id=a.job.id, lease_token=b.lease_token)]))
            assert [r.outcome for r in stolen.results] == [pb.LEASE_OUTCOME_LOST]  # another call's token
            acked = await stub.Ack(pb.AckRequest(leases=[ref(j) for _, j in got]))
            assert {r.outcome for r in acked.results} == {pb.LEASE_OUTCOME_OK}

    made, served = (x - y for x, y in zip(claims(after), claims(before)))
    assert served > made  # some claims served several calls at once


async def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def lock_waiters(db, database: str) -> int:
    """Broker backends waiting for a lock (the claim's LOCK_LIMITED behind the test's lock)."""
    return await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' "
                             "AND application_name = 'broker'", database)


async def test_a_call_cancelled_while_its_share_is_claimed_loses_nothing(own_database, own_db, queue):
    """The claims of a queue with a concurrency limit take its row lock (queries.LOCK_LIMITED):
    the test holds that lock to stop claims mid-way, cancels a call whose group waits there, then
    lets the claim finish."""
    database = own_database.rsplit("/", 1)[1]
    async with running_broker(own_database, BROKER_CLAIM_CLAIMERS="1") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, concurrency_limit=100))
            ids = await enqueue(stub, queue, 6)

            async def lease(worker: str):
                return await stub.Lease(pb.LeaseRequest(
                    queues=[queue], worker_id=worker, max_jobs=2, wait=duration(10), lease_duration=LONG), timeout=20)

            def poll(worker: str):
                return asyncio.create_task(lease(worker))

            first_lock, second_lock = await own_db.acquire(), await own_db.acquire()
            try:
                t1 = first_lock.transaction()
                await t1.start()
                await first_lock.execute("SELECT 1 FROM broker_queues WHERE name = $1 FOR UPDATE", queue)
                first = poll("first")  # its claim waits for the lock
                await wait_for(lambda: _equals(lock_waiters(own_db, database), 1))
                t2 = second_lock.transaction()
                await t2.start()
                queued = asyncio.create_task(
                    second_lock.execute("SELECT 1 FROM broker_queues WHERE name = $1 FOR UPDATE", queue))
                await wait_for(lambda: _equals(lock_waiters(own_db, database), 1))  # the test's own backend is not 'broker'
                gone, kept = poll("gone"), poll("kept")  # they wait for the busy claimer, then share a claim
                await asyncio.sleep(0.2)
                await t1.commit()  # the first claim finishes; the test's second lock is taken next
                assert len((await first).jobs) == 2
                await queued
                await wait_for(lambda: _equals(lock_waiters(own_db, database), 1))  # the shared claim waits
                gone.cancel()
                await wait_for(lambda: _cancelled_leases(broker.http_port))
                await t2.commit()
            finally:
                await own_db.release(first_lock)
                await own_db.release(second_lock)

            with pytest.raises(asyncio.CancelledError):
                await gone
            kept_jobs = list((await kept).jobs)
            assert len(kept_jobs) == 2 and {j.job.id for j in kept_jobs} <= set(ids)

            async def released() -> bool:
                return await own_db.fetchval("SELECT count(*) FROM broker_events WHERE queue = $1 AND "
                                             "reason = 'release'", queue) == 2
            await wait_for(released)
            states = dict(await own_db.fetch("SELECT state, count(*) FROM broker_jobs WHERE queue = $1 GROUP BY state",
                                             queue))
            assert states == {"running": 4, "pending": 2}  # nothing leased to the gone call
            back = await own_db.fetch("SELECT attempt, lease_token, worker_id FROM broker_jobs WHERE queue = $1 "
                                      "AND state = 'pending'", queue)
            assert [(r[0], r[1], r[2]) for r in back] == [(0, None, "gone")] * 2
            again = await stub.Lease(pb.LeaseRequest(queues=[queue], worker_id="later", max_jobs=10))
            assert len(again.jobs) == 2 and all(j.attempt == 1 for j in again.jobs)
            _, samples = await scrape(broker.http_port)
            assert samples.get_value("broker_jobs_released_total", queue=queue) == 2


async def _equals(value, expected) -> bool:
    return await value == expected


async def _cancelled_leases(http_port: int) -> bool:
    _, samples = await scrape(http_port)
    return samples.sum("broker_rpc_duration_seconds_count", method="/broker.v1.JobService/Lease", code="CANCELLED") >= 1


async def test_a_concurrency_limit_holds_under_coalescing(own_database, own_db, queue):
    async with running_broker(own_database, BROKER_CLAIM_CLAIMERS="1") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, concurrency_limit=5))
            await enqueue(stub, queue, 40)
            _, before = await scrape(broker.http_port)
            answers = await asyncio.gather(*(stub.Lease(pb.LeaseRequest(
                queues=[queue], worker_id=f"w{i}", max_jobs=3, wait=duration(0.3), lease_duration=LONG), timeout=5)
                for i in range(16)))
            _, after = await scrape(broker.http_port)

    delivered = [j.job.id for a in answers for j in a.jobs]
    assert len(delivered) == len(set(delivered)) == 5  # the limit, never more, each job once
    assert await own_db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1 AND state = 'running'", queue) == 5
    made, served = (x - y for x, y in zip(claims(after), claims(before)))
    assert served > made
