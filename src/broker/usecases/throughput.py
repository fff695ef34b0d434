"""Throughput: jobs per queue and minute, for the dashboard's charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from broker.entities.errors import InvalidArgument
from broker.entities.queue import Limits
from broker.entities.stats import MinuteCounts
from broker.usecases.ports import Clock, JobStore

MAX_THROUGHPUT_MINUTES = 24 * 60


class Throughput:
    """Enqueued, succeeded, failed and dead-lettered jobs per queue and minute, for the charts."""

    def __init__(self, store: JobStore, clock: Clock, limits: Limits) -> None:
        self._store, self._clock, self._limits = store, clock, limits

    async def __call__(self, queues: Sequence[str] = (), minutes: int = 60) -> list[MinuteCounts]:
        for i, queue in enumerate(queues):
            self._limits.check_queue_name(queue, f"queues[{i}]")
        if not 1 <= minutes <= MAX_THROUGHPUT_MINUTES:
            raise InvalidArgument("minutes", f"{minutes} is outside 1 to {MAX_THROUGHPUT_MINUTES}")
        now = self._clock.now()
        return await self._store.throughput(list(queues), now - timedelta(minutes=minutes), now)
