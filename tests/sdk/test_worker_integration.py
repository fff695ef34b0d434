"""The SDK against the real broker: concurrency, crashes, draining, heartbeats, restarts,
retries and dead letters. Uses the session fixtures of tests/conftest.py; scenarios with
subprocesses are marked slow. No timing assertions: every wait is a bounded `eventually`."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import signal
import sys
import time
from collections import Counter

import grpc
import pytest

from broker_client import AsyncClient, ConnectionOptions, JobRequest, RetryPolicy, Worker
from broker_client.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, job_pb2
from tests.support import spawn_broker

from . import jobs_for_tests
from .helpers import Gauge, eventually, running

ROOT = pathlib.Path(__file__).resolve().parents[2]
S = job_pb2
OWN_CONNECTION = ConnectionOptions(channel_options=(("grpc.use_local_subchannel_pool", 1),))
FAST_RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.1, jitter="none")


class Admin:
    """GetJob over the SDK's own stubs."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = admin_service_pb2_grpc.AdminServiceStub(self._channel)

    async def get(self, job_id: str) -> apb.GetJobResponse:
        return await self._stub.GetJob(apb.GetJobRequest(job_id=job_id), timeout=5)

    async def states(self, ids) -> list[int]:
        return [(await self.get(i)).job.state for i in ids]

    async def wait_all(self, ids, state=S.JOB_STATE_SUCCEEDED, timeout: float = 30) -> None:
        box: list[int] = []

        async def refresh() -> None:
            box[:] = await self.states(ids)

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await refresh()
            if all(s == state for s in box):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"states {Counter(S.JobState.Name(s) for s in box)}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self._channel.close()


@contextlib.asynccontextmanager
async def admin_for(address: str):
    admin = Admin(address)
    try:
        yield admin
    finally:
        await admin.close()


async def enqueue(address: str, queue: str, n: int, kind: str = "sleep", seconds: float = 0.0,
                  options: ConnectionOptions | None = None, **kw) -> list[str]:
    async with AsyncClient(address, options=options) as client:
        jobs = [JobRequest(queue, kind, {"seconds": seconds}, retry_policy=FAST_RETRY, **kw) for _ in range(n)]
        return [r.job_id for r in await client.enqueue_batch(jobs)]


def transitions(response: apb.GetJobResponse, worker_id: str | None = None) -> Counter:
    return Counter((S.JobState.Name(e.from_state)[10:], S.JobState.Name(e.to_state)[10:], e.reason)
                   for e in response.events if worker_id is None or e.worker_id == worker_id)


async def spawn_worker(address: str, queue: str, *flags: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker_client", "worker", "tests.sdk.jobs_for_tests", "--target", address,
        "--queue", queue, "--log-level", "WARNING", *flags, cwd=ROOT)


async def test_producer_idempotency_against_the_broker(broker_server, queue):
    async with AsyncClient(broker_server.address) as client:
        first = await client.enqueue(queue, "sleep", {"seconds": 0}, idempotency_key="order-7")
        again = await client.enqueue(queue, "sleep", {"seconds": 0}, idempotency_key="order-7")
    assert first.created and not again.created and again.job_id == first.job_id


async def test_n_slow_jobs_run_at_the_same_time(broker_server, queue):
    n, gauge, release = 6, Gauge(), asyncio.Event()
    worker = Worker(queue, concurrency=n, poll_wait=1)

    @worker.handler("sleep")
    async def slow(ctx):
        with gauge:
            await release.wait()

    ids = await enqueue(broker_server.address, queue, n)
    async with admin_for(broker_server.address) as admin, running(worker, broker_server.address):
        await eventually(lambda: gauge.now == n)
        release.set()
        await admin.wait_all(ids)
    assert gauge.peak == n


async def test_a_job_longer_than_its_lease_is_kept_by_heartbeats(broker_server, queue):
    worker = jobs_for_tests.worker.configured(queues=[queue])
    # Lasts 1.5 leases: without heartbeats the lease would lapse and the job be redelivered.
    [job_id] = await enqueue(broker_server.address, queue, 1, seconds=3, lease_duration=2)
    async with admin_for(broker_server.address) as admin, running(worker, broker_server.address):
        await admin.wait_all([job_id])
        job = await admin.get(job_id)
    assert job.job.attempt == 1
    assert transitions(job) == Counter({("UNSPECIFIED", "PENDING", "enqueue"): 1,
                                        ("PENDING", "RUNNING", "lease"): 1, ("RUNNING", "SUCCEEDED", "ack"): 1})


async def test_a_failing_handler_is_retried_then_dead_lettered(broker_server, queue):
    worker = jobs_for_tests.worker.configured(queues=[queue])
    [job_id] = await enqueue(broker_server.address, queue, 1, kind="fail", max_attempts=3)
    async with admin_for(broker_server.address) as admin, running(worker, broker_server.address):
        await admin.wait_all([job_id], S.JOB_STATE_DEAD)
        job = await admin.get(job_id)
    assert job.job.attempt == 3 and len(job.job.errors) == 3
    assert [e.attempt for e in job.job.errors] == [1, 2, 3]
    assert all("failed on purpose" in e.error and "Traceback" in e.error for e in job.job.errors)
    moves = transitions(job)
    assert moves[("RUNNING", "PENDING", "nack")] == 2 and moves[("RUNNING", "DEAD", "nack")] == 1


@pytest.mark.slow
async def test_kill_9_of_a_worker_loses_no_job_and_acks_each_once(broker_server, queue):
    ids = await enqueue(broker_server.address, queue, 6, seconds=1.0)
    proc = await spawn_worker(broker_server.address, queue, "--concurrency", "3", "--lease-duration", "2",
                              "--worker-id", "doomed")
    async with admin_for(broker_server.address) as admin:
        await admin_wait_running(admin, ids, 3)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        states = await admin.states(ids)
        survivor = jobs_for_tests.worker.configured(queues=[queue], concurrency=6, lease_duration=2)
        async with running(survivor, broker_server.address):
            await admin.wait_all(ids)
        histories = [await admin.get(i) for i in ids]
    assert states.count(S.JOB_STATE_RUNNING) == 3  # killed mid-job, leases still held
    for job in histories:
        assert transitions(job)[("RUNNING", "SUCCEEDED", "ack")] == 1
    orphaned = [j for j in histories if transitions(j, "doomed")[("PENDING", "RUNNING", "lease")]]
    assert len(orphaned) == 3
    for job in orphaned:  # redelivered after the lease lapsed, finished by the survivor
        assert job.job.attempt == 2 and transitions(job)[("RUNNING", "PENDING", "expire")] == 1


@pytest.mark.slow
async def test_sigterm_drains_and_takes_no_new_lease(broker_server, queue):
    ids = await enqueue(broker_server.address, queue, 4, seconds=1.5)
    proc = await spawn_worker(broker_server.address, queue, "--concurrency", "2", "--worker-id", "draining",
                              "--grace", "20")
    async with admin_for(broker_server.address) as admin:
        await admin_wait_running(admin, ids, 2)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        histories = [await admin.get(i) for i in ids]
    mine = [j for j in histories if transitions(j, "draining")[("PENDING", "RUNNING", "lease")]]
    assert len(mine) == 2
    assert all(j.job.state == S.JOB_STATE_SUCCEEDED and j.job.attempt == 1 for j in mine)
    assert sorted(j.job.state for j in histories if j not in mine) == [S.JOB_STATE_PENDING] * 2


async def admin_wait_running(admin: Admin, ids, n: int) -> None:
    for _ in range(400):
        if sum(s == S.JOB_STATE_RUNNING for s in await admin.states(ids)) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} jobs never ran at once")


@pytest.mark.slow
async def test_broker_restart_mid_run_every_job_succeeds(own_database, queue):
    with contextlib.ExitStack() as stack:
        first = await asyncio.to_thread(stack.enter_context, spawn_broker(own_database))
        ids = await enqueue(first.address, queue, 12, seconds=0.2)
        worker = jobs_for_tests.worker.configured(queues=[queue], concurrency=2, lease_duration=2)
        async with running(worker, first.address) as task:
            await eventually(lambda: worker.stats.succeeded >= 2)
            first.process.kill()
            await asyncio.to_thread(first.process.wait)
            await eventually(lambda: worker.stats.lease_failures >= 1)
            second = await asyncio.to_thread(stack.enter_context, spawn_broker(own_database, grpc_port=first.grpc_port))
            async with admin_for(second.address) as admin:
                await admin.wait_all(ids)
                histories = [await admin.get(i) for i in ids]
            assert not task.done()  # the same worker rode out the outage
    for job in histories:
        assert transitions(job)[("RUNNING", "SUCCEEDED", "ack")] == 1


@pytest.mark.slow
async def test_a_worker_resumes_within_about_a_second_of_the_broker_coming_back(own_database, queue):
    # gRPC's reconnect backoff (1 s growing x1.6, capped at the SDK's old 5 s) and the worker's
    # own retry backoff (also up to 5 s) left a worker idle for seconds after a ~5 s outage (10.7 s
    # in all once, longer than its 10 s lease: its jobs ran twice). Now the channel reconnects at
    # least every second and the worker's loops go on as soon as it has.
    with contextlib.ExitStack() as stack:
        first = await asyncio.to_thread(stack.enter_context, spawn_broker(own_database))
        # Runs across the outage: its 15 s lease (a heartbeat every 5 s) outlasts outage + bound.
        [across] = await enqueue(first.address, queue, 1, seconds=8, lease_duration=15)
        worker = jobs_for_tests.worker.configured(queues=[queue], concurrency=2)
        async with running(worker, first.address):
            await eventually(lambda: worker.stats.running == 1)
            first.process.kill()
            await asyncio.to_thread(first.process.wait)
            await asyncio.sleep(4)  # with the start-up of the next broker: a ~5 s outage
            assert worker.stats.lease_failures >= 3
            second = await asyncio.to_thread(stack.enter_context,
                                              spawn_broker(own_database, grpc_port=first.grpc_port))
            back = time.monotonic()
            # A channel of its own: gRPC shares connections between channels of the same target and
            # arguments, and the worker's may still be waiting out its reconnect backoff.
            [after] = await enqueue(second.address, queue, 1, options=OWN_CONNECTION)
            async with admin_for(second.address) as admin:
                await admin.wait_all([after])
                resumed = time.monotonic() - back
                await admin.wait_all([across])
                history = await admin.get(across)
    # Generous for the reconnect bound (1 s; seen 0.1-1.2 s); the old backoffs took 2.6-5.9 s.
    assert resumed < 2.5, f"the worker's first job after the outage took {resumed:.1f} s"
    assert history.job.attempt == 1 and transitions(history)[("RUNNING", "SUCCEEDED", "ack")] == 1
