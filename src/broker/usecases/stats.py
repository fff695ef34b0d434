"""Stats: per-queue counts and rates, each queue's flow controls and its breaker's state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from broker.entities.queue import Limits
from broker.entities.queue_state import QueueControls
from broker.entities.stats import QueueStats
from broker.usecases.overview import ReadOverview
from broker.usecases.queues.breaker_ports import BreakerStore
from broker.usecases.queues.ports import QueueStore


class Stats:
    """Per-queue counts, the oldest ready job's age, and rates over the last minute and hour;
    read through the shared overview so the RPC, /metrics and the dashboard agree. With a queue
    store, each queue's controls too (the defaults for a queue nobody configured); `running` is
    the concurrency its limits count."""

    def __init__(self, overview: ReadOverview, limits: Limits | None = None,
                 queues: QueueStore | None = None, breakers: BreakerStore | None = None) -> None:
        self._overview, self._limits = overview, limits or Limits()
        self._queues, self._breakers = queues, breakers

    async def __call__(self, queues: Sequence[str] = ()) -> list[QueueStats]:
        """With each queue's breaker state, read now (a breaker changes faster than the overview's cache)."""
        self._limits.check_queue_names(queues)
        wanted = set(queues)
        found = [q for q in (await self._overview()).queues if not wanted or q.queue in wanted]
        if self._queues is not None:
            controls = {c.name: c for c in await self._queues.list_queues()}
            found = [replace(q, controls=controls.get(q.queue) or QueueControls(q.queue)) for q in found]
        if self._breakers is None or not found or not await self._breakers.configured():
            return found
        states = {b.queue: b.state.value for b in await self._breakers.list_breakers()}
        return [replace(q, breaker=states[q.queue]) if q.queue in states else q for q in found]
