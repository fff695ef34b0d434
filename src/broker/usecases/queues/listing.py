"""GetQueue and ListQueues: a queue's controls."""

from __future__ import annotations

from broker.entities.queue import Limits
from broker.entities.queue_state import QueueControls
from broker.usecases.queues.ports import QueueStore


class GetQueue:
    """One queue's controls; the defaults (not paused, no limit) for a queue nobody configured."""

    def __init__(self, store: QueueStore, limits: Limits) -> None:
        self._store, self._limits = store, limits

    async def __call__(self, name: str) -> QueueControls:
        return await self._store.get(self._limits.check_queue_name(name, "name"))


class ListQueues:
    """Every queue whose controls were ever set, by name."""

    def __init__(self, store: QueueStore) -> None:
        self._store = store

    async def __call__(self) -> list[QueueControls]:
        return await self._store.list_queues()
