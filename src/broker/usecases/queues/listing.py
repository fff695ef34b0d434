"""GetQueue and ListQueues: a queue's controls."""

from __future__ import annotations

from dataclasses import replace

from broker.entities.queue import Limits
from broker.entities.queue_state import QueueControls
from broker.usecases.queues.breaker_ports import BreakerStore
from broker.usecases.queues.ports import QueueStore


class GetQueue:
    """One queue's controls; the defaults (not paused, no limit) for a queue nobody configured."""

    def __init__(self, store: QueueStore, limits: Limits, breakers: BreakerStore | None = None) -> None:
        self._store, self._limits, self._breakers = store, limits, breakers

    async def __call__(self, name: str) -> QueueControls:
        controls = await self._store.get(self._limits.check_queue_name(name, "name"))
        return replace(controls, breaker=await self._breakers.get(name)) if self._breakers else controls


class ListQueues:
    """Every queue whose controls were ever set, or that has a breaker, by name."""

    def __init__(self, store: QueueStore, breakers: BreakerStore | None = None) -> None:
        self._store, self._breakers = store, breakers

    async def __call__(self) -> list[QueueControls]:
        controls = {c.name: c for c in await self._store.list_queues()}
        if self._breakers is None:
            return list(controls.values())
        for b in await self._breakers.list_breakers():
            controls[b.queue] = replace(controls.get(b.queue) or QueueControls(b.queue), breaker=b)
        return [controls[name] for name in sorted(controls)]
