"""The shared overview: reused for its ttl, stale at once after a local state change, and one
read for concurrent callers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from broker.entities.job import Event, JobState, Reason
from broker.entities.stats import QueueStats, WorkerLeases
from broker.usecases.overview import ReadOverview
from broker.usecases.stats import Stats

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


class CountingStore:
    def __init__(self) -> None:
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def stats(self, queues, now):
        self.reads += 1
        if self.gate:
            await self.gate.wait()
        return [QueueStats("a", ready=self.reads), QueueStats("b", dead=1)]

    async def workers(self, now):
        return [WorkerLeases("w1", "a", 2, now)]


class FixedClock:
    def now(self):
        return NOW


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _overview(store, ticks, ttl=1.0):
    return ReadOverview(store, FixedClock(), ttl, ticks)


async def test_reused_within_the_ttl_and_read_again_after():
    store, ticks = CountingStore(), Ticks()
    overview = _overview(store, ticks)
    first = await overview()
    ticks.t = 0.9
    assert await overview() is first and store.reads == 1
    ticks.t = 1.0
    assert (await overview()).queues[0].ready == 2


async def test_a_recorded_state_change_makes_it_stale():
    store, ticks = CountingStore(), Ticks()
    overview = _overview(store, ticks)
    await overview()
    overview.record([])
    await overview()
    assert store.reads == 1
    overview.record([Event("j", "a", None, JobState.PENDING, Reason.ENQUEUE, 0, NOW)])
    await overview()
    assert store.reads == 2


async def test_concurrent_callers_share_one_read():
    store, ticks = CountingStore(), Ticks()
    store.gate = asyncio.Event()
    overview = _overview(store, ticks)
    calls = [asyncio.create_task(overview()) for _ in range(5)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*calls)
    assert store.reads == 1 and all(r is results[0] for r in results)


async def test_a_change_during_a_read_leaves_the_answer_stale():
    store, ticks = CountingStore(), Ticks()
    store.gate = asyncio.Event()
    overview = _overview(store, ticks)
    reading = asyncio.create_task(overview())
    await asyncio.sleep(0)
    overview.record([Event("j", "a", None, JobState.PENDING, Reason.ENQUEUE, 0, NOW)])
    store.gate.set()
    await reading
    await overview()
    assert store.reads == 2


async def test_stats_and_workers_read_through_it():
    store, ticks = CountingStore(), Ticks()
    overview = _overview(store, ticks)
    assert [q.queue for q in await Stats(overview)(["b"])] == ["b"]
    assert [q.queue for q in await Stats(overview)()] == ["a", "b"]
    assert [w.worker_id for w in (await overview()).workers] == ["w1"]
    assert store.reads == 1
