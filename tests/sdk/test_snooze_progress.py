"""Snooze and progress in the SDK: a handler that raises or returns Snooze(delay) hands its job
back without using an attempt (over a session and over unary calls); ``job.progress`` goes to the
broker with the next heartbeat, once per change; bad values are refused in the handler."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.job import JobState, Reason
from broker_client import AsyncClient, Snooze, Worker
from broker_client.testing import InMemoryBroker, run_job
from broker_client.worker.context import MAX_PROGRESS_CHARS

from .helpers import eventually, running
from .memory_broker import serving


def _snoozing_worker(sessions: bool) -> Worker:
    worker = Worker("snoozy", poll_wait=1, flush_interval=0, session=sessions)
    seen: dict[str, int] = {}

    @worker.handler("raise")
    async def raises(ctx):
        seen[ctx.id] = seen.get(ctx.id, 0) + 1
        if seen[ctx.id] == 1:
            raise Snooze(0)
        return {"attempt": ctx.attempt}

    @worker.handler("return")
    def returns(ctx):  # a sync handler, returning rather than raising
        seen[ctx.id] = seen.get(ctx.id, 0) + 1
        return Snooze(0) if seen[ctx.id] <= 2 else "done"

    @worker.handler("later")
    async def later(ctx):
        raise Snooze(3600)

    return worker


@pytest.mark.parametrize("sessions", [True, False], ids=["session", "unary"])
async def test_a_snoozed_job_runs_again_without_using_an_attempt(sessions):
    async with serving(sessions=sessions) as broker, AsyncClient(broker.address) as client:
        raised = (await client.enqueue("snoozy", "raise", max_attempts=1)).job_id
        returned = (await client.enqueue("snoozy", "return", max_attempts=1)).job_id
        async with running(_snoozing_worker(sessions), broker.address):
            assert await client.wait(raised, timeout=10) == b'{"attempt":1}'
            assert await client.wait(returned, timeout=10) == b"done"
        history = await broker.store.history(raised)
    assert [e.reason for e in history] == [Reason.ENQUEUE, Reason.LEASE, Reason.SNOOZE, Reason.LEASE, Reason.ACK]
    assert [(broker.job(j).attempt, broker.job(j).snoozes) for j in (raised, returned)] == [(1, 1), (1, 2)]
    assert broker.requests["Snooze"] and not broker.requests["Nack"]


async def test_a_snooze_with_a_delay_puts_the_job_back_until_then(memory_broker):
    async with AsyncClient(memory_broker.address) as client:
        job_id = (await client.enqueue("snoozy", "later")).job_id
        before = datetime.now(timezone.utc)
        async with running(_snoozing_worker(True), memory_broker.address):
            await eventually(lambda: memory_broker.job(job_id).snoozes == 1)
    job = memory_broker.job(job_id)
    assert (job.state, job.attempt) == (JobState.PENDING, 0)
    assert job.run_at >= before + timedelta(seconds=3600)


async def test_progress_goes_with_the_next_heartbeat_once_per_change(memory_broker):
    worker = Worker("progress", poll_wait=1, flush_interval=0, lease_duration=1.5)
    go_on = asyncio.Event()

    @worker.handler("long")
    async def long(ctx):
        ctx.progress(0.25, "a quarter")
        ctx.progress(0.5, "halfway")  # the latest report is what goes
        await go_on.wait()
        ctx.progress(1.0)

    async with AsyncClient(memory_broker.address) as client:
        job_id = (await client.enqueue("progress", "long")).job_id
        async with running(worker, memory_broker.address):
            await eventually(lambda: memory_broker.job(job_id).progress is not None)
            beats = len(memory_broker.requests["Heartbeat"])
            await eventually(lambda: len(memory_broker.requests["Heartbeat"]) >= beats + 2)  # more beats
            go_on.set()
            await client.wait(job_id, timeout=10)
        history = await memory_broker.store.history(job_id)
    reported = [(e.progress.fraction, e.progress.message) for e in history if e.reason is Reason.PROGRESS]
    assert reported == [(0.5, "halfway")]  # 1.0 came after the last heartbeat: the job was done
    with_items = [r for r in memory_broker.requests["Heartbeat"] if r.items]
    assert len(with_items) == 1 and with_items[0].items[0].progress.message == "halfway"


@pytest.mark.parametrize("fraction, message", [(-0.1, ""), (1.5, ""), (math.nan, ""),
                                                (0.5, "x" * (MAX_PROGRESS_CHARS + 1))])
def test_bad_progress_is_refused_in_the_handler(fraction, message):
    def handler(ctx):
        ctx.progress(fraction, message)

    outcome = run_job(handler)
    assert not outcome.ok and "ValueError" in outcome.error


def test_snooze_in_the_testing_helpers():
    with pytest.raises(ValueError):
        Snooze(-1)
    assert run_job(lambda ctx: Snooze(5)).snooze == 5.0
    worker = Worker("q")
    runs = []

    @worker.handler("k")
    def handler(ctx):
        runs.append(ctx.attempt)
        if len(runs) < 3:
            raise Snooze(1)

    broker = InMemoryBroker()
    broker.enqueue("q", "k")
    (job,) = broker.run_all(worker)
    assert (job.state, job.attempts, job.snoozes, runs) == ("succeeded", 1, 2, [1, 1, 1])


async def test_a_broker_without_snooze_gets_a_nack_with_the_delay_instead():
    async with serving(sessions=False, snooze=False) as broker, AsyncClient(broker.address) as client:
        job_id = (await client.enqueue("snoozy", "later")).job_id
        async with running(_snoozing_worker(False), broker.address):
            await eventually(lambda: broker.job(job_id).errors)
    job = broker.job(job_id)
    assert (job.state, job.attempt, job.snoozes) == (JobState.PENDING, 1, 0)
    assert "this broker has no Snooze" in job.errors[-1].error
    assert job.run_at >= job.errors[-1].at + timedelta(seconds=3599)
