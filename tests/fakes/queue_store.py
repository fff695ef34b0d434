"""The QueueStore in memory, sharing its controls with an InMemoryJobStore (whose claim obeys
them); tests/contract/test_queue_controls.py holds both to the PostgreSQL stores."""

from __future__ import annotations

from datetime import datetime

from broker.entities.queue_state import ControlsChange, QueueControls, QueueEvent
from tests.fakes.memory_store import InMemoryJobStore


class InMemoryQueueStore:
    def __init__(self, jobs: InMemoryJobStore) -> None:
        self._jobs = jobs
        self.events: list[QueueEvent] = []

    async def get(self, name: str) -> QueueControls:
        return self._jobs.controls.get(name, QueueControls(name))

    async def list_queues(self) -> list[QueueControls]:
        return [self._jobs.controls[n] for n in sorted(self._jobs.controls)]

    async def update(self, name: str, change: ControlsChange,
                     now: datetime) -> tuple[QueueControls, QueueEvent | None]:
        before = self._jobs.controls.get(name, QueueControls(name, updated_at=now))
        after = change.apply(before, now)  # may raise InvalidArgument: then nothing changed
        self._jobs.controls.setdefault(name, before)
        if after == before:
            return before, None
        self._jobs.controls[name] = after
        if (before.rate_limit, before.rate_burst) != (after.rate_limit, after.rate_burst):
            self._jobs.buckets.pop(name, None)  # a new or changed rate starts with a full bucket
        event = QueueEvent(name, before, after, now)
        self.events.append(event)
        return after, event
