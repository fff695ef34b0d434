"""The worker against the broker's own JobService over the in-memory store, on a real grpc.aio server."""

from __future__ import annotations

import asyncio
import os
import threading

import grpc
import pytest

from broker.entities.job import JobState
from broker_client import AsyncClient, LeaseRefused, PermanentError, RetryLater, Worker

from .helpers import Gauge, eventually, running

S = JobState


async def enqueue(address: str, n: int, kind: str = "work", queue: str = "q", **kw) -> list[str]:
    async with AsyncClient(address) as client:
        return [(await client.enqueue(queue, kind, {"n": i}, **kw)).job_id for i in range(n)]


def done(broker, ids, state=S.SUCCEEDED):
    return lambda: all(broker.job(i).state == state for i in ids)


async def test_runs_up_to_concurrency_jobs_at_once_with_long_poll_leases(memory_broker):
    worker, gauge, release = Worker("q", concurrency=5, poll_wait=5), Gauge(), asyncio.Event()

    @worker.handler("work")
    async def work(ctx):
        with gauge:
            await release.wait()

    ids = await enqueue(memory_broker.address, 8)
    async with running(worker, memory_broker.address):
        await eventually(lambda: gauge.now == 5)
        release.set()
        await eventually(done(memory_broker, ids))
    assert gauge.peak == 5
    leases = memory_broker.requests["Lease"]
    assert all(1 <= r.max_jobs <= 5 for r in leases)
    assert all(r.wait.seconds == 5 for r in leases)
    assert leases[0].max_jobs == 5  # one batch filled every free slot


async def test_idle_worker_waits_in_long_polls_instead_of_polling(memory_broker):
    worker = Worker("idle", poll_wait=2)
    worker.handler("work")(lambda ctx: None)
    async with running(worker, memory_broker.address):
        await asyncio.sleep(0.5)
    assert len(memory_broker.requests["Lease"]) == 1


async def test_one_heartbeat_call_extends_every_held_lease(memory_broker):
    worker, started = Worker("q", concurrency=3, lease_duration=2), Gauge()

    @worker.handler("work")
    async def work(ctx):
        with started:
            await eventually(lambda: len(memory_broker.requests["Heartbeat"]) >= 2)

    ids = await enqueue(memory_broker.address, 3)
    async with running(worker, memory_broker.address):
        await eventually(done(memory_broker, ids))
    beats = memory_broker.requests["Heartbeat"]
    assert all(len(b.leases) == 3 for b in beats[:2])
    assert all(b.lease_duration.seconds == 2 for b in beats)
    assert all(memory_broker.job(i).attempt == 1 for i in ids)


async def test_lost_lease_cancels_the_handler_and_drops_its_result(memory_broker):
    worker, cancelled = Worker("q", lease_duration=1), asyncio.Event()

    @worker.handler("work")
    async def work(ctx):
        memory_broker.lose(ctx.id)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    [job_id] = await enqueue(memory_broker.address, 1)
    async with running(worker, memory_broker.address):
        await asyncio.wait_for(cancelled.wait(), 10)
        await eventually(lambda: worker.stats.lost == 1)
    assert memory_broker.requests["Ack"] == [] and memory_broker.requests["Nack"] == []
    assert memory_broker.job(job_id).state == S.RUNNING  # the other holder finishes it


async def test_failures_nack_with_traceback_permanent_retry_after_and_timeout(memory_broker):
    worker = Worker("q", concurrency=4)

    @worker.handler("boom")
    def boom(ctx):
        raise ValueError("bad input")

    @worker.handler("fatal")
    async def fatal(ctx):
        raise PermanentError("never works")

    @worker.handler("later")
    async def later(ctx):
        raise RetryLater(7.5)

    @worker.handler("slow", timeout=0.05)
    async def slow(ctx):
        await asyncio.sleep(30)

    async with AsyncClient(memory_broker.address) as client:
        ids = {k: (await client.enqueue("q", k, max_attempts=1)).job_id for k in ("boom", "fatal", "later", "slow")}
    async with running(worker, memory_broker.address):
        await eventually(lambda: len([i for r in memory_broker.requests["Nack"] for i in r.items]) == 4)
    items = {i.lease.job_id: i for r in memory_broker.requests["Nack"] for i in r.items}
    boom_item = items[ids["boom"]]
    assert boom_item.error.startswith("ValueError: bad input") and "in boom" in boom_item.error
    assert not boom_item.permanent
    assert items[ids["fatal"]].permanent and "PermanentError: never works" in items[ids["fatal"]].error
    assert items[ids["later"]].retry_after.ToNanoseconds() == 7_500_000_000
    assert "ran longer than 0.05 s" in items[ids["slow"]].error
    assert memory_broker.job(ids["boom"]).state == S.DEAD


async def test_acks_are_batched(memory_broker):
    worker = Worker("q", concurrency=50, flush_interval=0.05)
    worker.handler("work")(_noop)
    ids = await enqueue(memory_broker.address, 50)
    async with running(worker, memory_broker.address):
        await eventually(done(memory_broker, ids))
    acks = memory_broker.requests["Ack"]
    assert sum(len(a.leases) for a in acks) == 50
    assert len(acks) < 10


async def test_keeps_going_while_the_broker_fails_then_recovers(memory_broker):
    worker = Worker("q", concurrency=2)
    worker.handler("work")(lambda ctx: None)
    memory_broker.fail_next("Lease", grpc.StatusCode.UNAVAILABLE, times=3)
    memory_broker.fail_next("Ack", grpc.StatusCode.UNAVAILABLE, times=2)
    ids = await enqueue(memory_broker.address, 4)
    async with running(worker, memory_broker.address):
        await eventually(done(memory_broker, ids))
    assert len(memory_broker.requests["Ack"]) >= 3


async def test_refused_lease_stops_the_worker(memory_broker):
    worker = Worker("bad queue!")  # the broker's validation refuses the name
    with pytest.raises(LeaseRefused, match="INVALID_ARGUMENT"):
        await asyncio.wait_for(worker.run(memory_broker.address, handle_signals=False), 10)


async def test_stop_drains_running_jobs_and_leases_no_more(memory_broker):
    worker, started, release = Worker("q", concurrency=2, poll_wait=5), Gauge(), asyncio.Event()

    @worker.handler("work")
    async def work(ctx):
        with started:
            await release.wait()

    ids = await enqueue(memory_broker.address, 2)
    task = asyncio.create_task(worker.run(memory_broker.address, handle_signals=False))
    await eventually(lambda: started.now == 2)
    more = await enqueue(memory_broker.address, 1)
    worker.stop()
    leases_at_stop = len(memory_broker.requests["Lease"])
    await asyncio.sleep(0.1)
    release.set()
    await asyncio.wait_for(task, 10)
    assert all(memory_broker.job(i).state == S.SUCCEEDED for i in ids)
    assert memory_broker.job(more[0]).state == S.PENDING
    assert len(memory_broker.requests["Lease"]) == leases_at_stop


async def test_jobs_still_running_after_the_grace_period_are_nacked_for_prompt_retry(memory_broker):
    worker = Worker("q", shutdown_grace=0.1)

    @worker.handler("work")
    async def work(ctx):
        await asyncio.sleep(60)

    [job_id] = await enqueue(memory_broker.address, 1)
    task = asyncio.create_task(worker.run(memory_broker.address, handle_signals=False))
    await eventually(lambda: worker.stats.running == 1)
    worker.stop()
    await asyncio.wait_for(task, 10)
    [item] = [i for r in memory_broker.requests["Nack"] for i in r.items]
    assert item.HasField("retry_after") and item.retry_after.ToNanoseconds() == 0
    assert "shut down" in item.error and not item.permanent
    assert memory_broker.job(job_id).state == S.PENDING and worker.stats.aborted == 1


async def test_second_stop_does_not_wait_for_the_grace_period(memory_broker):
    worker = Worker("q", shutdown_grace=60)
    worker.handler("work")(_sleep_forever)
    await enqueue(memory_broker.address, 1)
    task = asyncio.create_task(worker.run(memory_broker.address, handle_signals=False))
    await eventually(lambda: worker.stats.running == 1)
    worker.stop()
    await asyncio.sleep(0.1)
    assert not task.done()
    worker.stop(force=True)
    await asyncio.wait_for(task, 5)
    assert worker.stats.aborted == 1


async def _noop(ctx):
    return None


async def _sleep_forever(ctx):
    await asyncio.sleep(3600)


def where_am_i(ctx):
    return os.getpid(), threading.current_thread().name


async def test_sync_handlers_run_on_threads_and_cpu_bound_ones_in_processes(memory_broker):
    worker, seen = Worker("q", concurrency=2), {}

    @worker.handler("thread")
    def on_thread(ctx):
        seen["thread"] = where_am_i(ctx)

    worker.handler("process", cpu_bound=True)(where_am_i)
    ids = await enqueue(memory_broker.address, 1, kind="thread") + await enqueue(memory_broker.address, 1, kind="process")
    async with running(worker, memory_broker.address):
        await eventually(done(memory_broker, ids), timeout=20)
    assert seen["thread"][0] == os.getpid() and seen["thread"][1].startswith("broker-handler")


async def test_async_client_retry_reuses_the_key_after_a_lost_reply(memory_broker):
    memory_broker.fail_next("Enqueue", grpc.StatusCode.UNAVAILABLE, lost_reply=True)
    async with AsyncClient(memory_broker.address) as client:
        result = await client.enqueue("q", "work", b"x")
    assert result.created is False and len(memory_broker.jobs) == 1
    first, second = memory_broker.requests["Enqueue"]
    assert first.job.idempotency_key == second.job.idempotency_key == result.idempotency_key
