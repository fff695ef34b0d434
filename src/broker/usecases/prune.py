"""Prune: finished jobs (SUCCEEDED, CANCELLED) leave after the retention period."""

from __future__ import annotations

from datetime import timedelta

from broker.usecases.ports import Clock, JobStore


class PruneFinished:
    """One pass of the pruner; returns how many jobs it deleted. Dead jobs stay until purged."""

    def __init__(self, store: JobStore, clock: Clock, retention: float, batch: int = 5000) -> None:
        self._store, self._clock, self._retention, self._batch = store, clock, retention, batch

    async def run_once(self) -> int:
        cutoff = self._clock.now() - timedelta(seconds=self._retention)
        return await self._store.prune(cutoff, self._batch)
