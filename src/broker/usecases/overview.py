"""The operators' picture of the broker: per-queue stats and the workers holding leases, read
together and reused briefly. The Stats RPC, /metrics and the dashboard all read it, so they agree,
and a burst of readers (scrapes, dashboards, CLI) costs one round of queries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from broker.entities.job import Event
from broker.entities.stats import QueueStats, WorkerLeases
from broker.usecases.ports import Clock, JobStore


@dataclass(frozen=True, slots=True)
class Overview:
    at: datetime
    queues: tuple[QueueStats, ...]
    workers: tuple[WorkerLeases, ...]


class ReadOverview:
    """Reads stats and workers from the store, and serves the same answer again for `ttl` seconds.

    It is also an EventSink: a state change made through this process makes the answer stale at
    once, so readers here see their own writes. Changes made by other replicas show within `ttl`.
    Concurrent callers share one read.
    """

    def __init__(self, store: JobStore, clock: Clock, ttl: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store, self._clock, self._ttl, self._monotonic = store, clock, ttl, monotonic
        self._cached: Overview | None = None
        self._read_at = 0.0
        self._generation = self._seen = 0
        self._lock = asyncio.Lock()

    async def __call__(self) -> Overview:
        if self._fresh():
            return self._cached
        async with self._lock:
            if self._fresh():
                return self._cached
            generation, now = self._generation, self._clock.now()
            queues = await self._store.stats([], now)
            workers = await self._store.workers(now)
            self._cached = Overview(now, tuple(queues), tuple(workers))
            self._read_at, self._seen = self._monotonic(), generation
            return self._cached

    def record(self, events: Sequence[Event]) -> None:
        if events:
            self._generation += 1

    def _fresh(self) -> bool:
        return (self._cached is not None and self._seen == self._generation
                and self._monotonic() - self._read_at < self._ttl)
