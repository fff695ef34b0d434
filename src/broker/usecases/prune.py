"""Prune: finished jobs (SUCCEEDED, CANCELLED) leave after the retention period."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from broker.usecases.ports import Clock, JobStore


class PruneFinished:
    """One pass of the pruner; returns how many jobs it deleted. Dead jobs stay until purged.
    `also` prune other old rows in the same pass (the dashboard's workers and latency counts)."""

    def __init__(self, store: JobStore, clock: Clock, retention: float, batch: int = 5000,
                 also: Sequence[Callable[[], Awaitable[object]]] = ()) -> None:
        self._store, self._clock, self._retention, self._batch = store, clock, retention, batch
        self._also = tuple(also)

    async def run_once(self) -> int:
        cutoff = self._clock.now() - timedelta(seconds=self._retention)
        pruned = await self._store.prune(cutoff, self._batch)
        for prune in self._also:
            await prune()
        return pruned
