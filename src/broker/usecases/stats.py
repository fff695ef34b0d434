"""Stats: per-queue counts and rates."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.queue import Limits
from broker.entities.stats import QueueStats
from broker.usecases.overview import ReadOverview


class Stats:
    """Per-queue counts, the oldest ready job's age, and rates over the last minute and hour;
    read through the shared overview so the RPC, /metrics and the dashboard agree."""

    def __init__(self, overview: ReadOverview, limits: Limits | None = None) -> None:
        self._overview, self._limits = overview, limits or Limits()

    async def __call__(self, queues: Sequence[str] = ()) -> list[QueueStats]:
        self._limits.check_queue_names(queues)
        wanted = set(queues)
        return [q for q in (await self._overview()).queues if not wanted or q.queue in wanted]
