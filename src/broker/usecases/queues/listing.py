"""GetQueue and ListQueues: a queue's controls, with its breaker and run-time retry policy."""

from __future__ import annotations

from broker.entities.queue import Limits
from broker.entities.queue_state import QueueControls
from broker.usecases.queues.parts import QueueParts
from broker.usecases.queues.ports import QueueStore


class GetQueue:
    """One queue's controls; the defaults (not paused, no limit) for a queue nobody configured."""

    def __init__(self, store: QueueStore, limits: Limits, parts: QueueParts = QueueParts()) -> None:
        self._store, self._limits, self._parts = store, limits, parts

    async def __call__(self, name: str) -> QueueControls:
        return await self._parts.attach(await self._store.get(self._limits.check_queue_name(name, "name")))


class ListQueues:
    """Every queue whose controls were ever set, or that has a breaker or a run-time retry
    policy, by name."""

    def __init__(self, store: QueueStore, parts: QueueParts = QueueParts()) -> None:
        self._store, self._parts = store, parts

    async def __call__(self) -> list[QueueControls]:
        return await self._parts.attach_all(await self._store.list_queues())
