"""Stats: per-queue counts and rates, and each queue's flow controls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from broker.entities.queue import Limits
from broker.entities.queue_state import QueueControls
from broker.entities.stats import QueueStats
from broker.usecases.overview import ReadOverview
from broker.usecases.queues.ports import QueueStore


class Stats:
    """Per-queue counts, the oldest ready job's age, and rates over the last minute and hour;
    read through the shared overview so the RPC, /metrics and the dashboard agree. With a queue
    store, each queue's controls too (the defaults for a queue nobody configured); `running` is
    the concurrency its limits count."""

    def __init__(self, overview: ReadOverview, limits: Limits | None = None,
                 queues: QueueStore | None = None) -> None:
        self._overview, self._limits, self._queues = overview, limits or Limits(), queues

    async def __call__(self, queues: Sequence[str] = ()) -> list[QueueStats]:
        self._limits.check_queue_names(queues)
        wanted = set(queues)
        found = [q for q in (await self._overview()).queues if not wanted or q.queue in wanted]
        if self._queues is None:
            return found
        controls = {c.name: c for c in await self._queues.list_queues()}
        return [replace(q, controls=controls.get(q.queue) or QueueControls(q.queue)) for q in found]
