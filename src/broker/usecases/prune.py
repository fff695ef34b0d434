"""Prune: finished jobs (SUCCEEDED, CANCELLED) leave after the retention period, their events
with the part of the event log they are in, and the space they took is reclaimed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from broker.usecases.ports import Clock, JobStore


class PruneFinished:
    """One pass of the pruner: one batch of finished jobs; once a batch comes back short (the
    backlog is done), the event log's parts are rotated, the tables compacted, and `also` prune
    other old rows (the dashboard's workers and latency counts). Returns how many jobs it
    deleted: a full batch means the runner should call again at once. Dead jobs stay until
    purged, with their history."""

    def __init__(self, store: JobStore, clock: Clock, retention: float, batch: int = 5000,
                 partition: float = 3600.0, also: Sequence[Callable[[], Awaitable[object]]] = ()) -> None:
        self._store, self._clock, self._retention = store, clock, retention
        self.batch, self._partition, self._also = batch, partition, tuple(also)

    async def run_once(self) -> int:
        now = self._clock.now()
        cutoff = now - timedelta(seconds=self._retention)
        pruned = await self._store.prune(cutoff, self.batch)
        if pruned < self.batch:
            await self._store.rotate_history(now, cutoff, self._partition)
            await self._store.compact()
            for prune in self._also:
                await prune()
        return pruned

    def full(self, pruned: int) -> bool:
        """Whether a pass deleted a whole batch (more may be waiting)."""
        return pruned >= self.batch
