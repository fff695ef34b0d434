"""The workers' view and each queue's health, for the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from broker.entities.health import HealthThresholds, Problem, problems
from broker.entities.queue_state import QueueControls
from broker.entities.stats import QueueStats, WorkerLeases
from broker.entities.workers import MAX_HELD, QueueWorkers, SeenWorker, WorkerView, merge, per_queue
from broker.usecases.ports import Clock, JobStore
from broker.usecases.workers.ports import ObservationStore


@dataclass(frozen=True, slots=True)
class WorkersView:
    at: datetime
    workers: tuple[WorkerView, ...]
    queues: dict[str, QueueWorkers] = field(default_factory=dict)


class ListWorkers:
    """Every worker seen by any replica in the last `thresholds.seen_seconds`, idle ones too, and
    every worker holding leases; per queue, the workers and their leases. Without an observation
    store (tests' builds): the lease holders only. A poll counts as open while a replica flushed it
    within `waiting_seconds` (a replica that stopped leaves its last rows behind)."""

    def __init__(self, jobs: JobStore, store: ObservationStore | None, clock: Clock,
                 thresholds: HealthThresholds = HealthThresholds(), waiting_seconds: float = 6.0) -> None:
        self._jobs, self._store, self._clock = jobs, store, clock
        self._thresholds, self._waiting = thresholds, timedelta(seconds=waiting_seconds)

    async def __call__(self) -> WorkersView:
        now = self._clock.now()
        leases = await self._jobs.workers(now)
        held = await self._store.held_leases(MAX_HELD) if self._store is not None else []
        workers = merge(await self._seen(now), leases, held)
        return WorkersView(now, tuple(workers), per_queue(workers, leases))

    async def counts(self, leases: Sequence[WorkerLeases]) -> dict[str, QueueWorkers]:
        """Per queue, given the lease holders the caller read (the overview's)."""
        return per_queue(merge(await self._seen(self._clock.now()), leases, ()), leases)

    def problems(self, q: QueueStats, controls: QueueControls | None, workers: int) -> list[Problem]:
        return problems(q, controls, workers, self._thresholds)

    async def _seen(self, now: datetime) -> list[SeenWorker]:
        if self._store is None:
            return []
        since = now - timedelta(seconds=self._thresholds.seen_seconds)
        return await self._store.seen_workers(since, now - self._waiting)
