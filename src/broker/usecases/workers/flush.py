"""The flush loop's pass (this replica's observations into the shared store), and the pruner's
part for them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from broker.usecases.ports import Clock
from broker.usecases.workers.latency import MAX_MINUTES, LatencyRecorder, minute_of
from broker.usecases.workers.ports import ObservationStore
from broker.usecases.workers.registry import WorkerRegistry


class FlushObservations:
    """One write per pass at most (none when nothing changed): the workers seen and the latency
    counts since the last pass. A failed write keeps both for the next pass. Passes take turns: a
    pass called while another writes returns once its own rows are written (tests rely on it)."""

    def __init__(self, store: ObservationStore, clock: Clock, registry: WorkerRegistry,
                 latency: LatencyRecorder, replica: str) -> None:
        self._store, self._clock, self._registry, self._latency = store, clock, registry, latency
        self.replica = replica
        self._turn = asyncio.Lock()

    async def run_once(self) -> int:
        """Returns how many rows it wrote."""
        async with self._turn:
            return await self._flush()

    async def _flush(self) -> int:
        now = self._clock.now()
        seen, counts = self._registry.take(now), self._latency.take(now)
        if not seen and not counts:
            return 0
        try:
            await self._store.flush(self.replica, seen, counts)
        except BaseException:
            self._registry.put_back(seen)
            self._latency.put_back(counts)
            raise
        return len(seen) + len(counts)


class PruneObservations:
    """Workers not seen for `seen_seconds` and latency counts older than the longest window read."""

    def __init__(self, store: ObservationStore, clock: Clock, seen_seconds: float) -> None:
        self._store, self._clock, self._seen = store, clock, timedelta(seconds=seen_seconds)

    async def __call__(self) -> int:
        now = self._clock.now()
        return await self._store.prune(now - self._seen, minute_of(now) - timedelta(minutes=MAX_MINUTES))
