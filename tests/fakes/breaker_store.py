"""The BreakerStore in memory, sharing its breakers with an InMemoryJobStore (whose claim obeys
them); tests/contract/test_breakers.py holds both to the PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from broker.entities.breaker import Breaker, BreakerEvent, BreakerState
from broker.entities.breaker_settings import BreakerChange
from broker.usecases.queues.breaker_ports import Step
from tests.fakes.memory_store import InMemoryJobStore


class InMemoryBreakerStore:
    def __init__(self, jobs: InMemoryJobStore) -> None:
        self._jobs = jobs
        self.events: list[BreakerEvent] = []

    async def configured(self) -> frozenset[str]:
        return frozenset(self._jobs.breakers)

    async def get(self, queue: str) -> Breaker | None:
        return self._jobs.breakers.get(queue)

    async def list_breakers(self) -> list[Breaker]:
        return [self._jobs.breakers[q] for q in sorted(self._jobs.breakers)]

    async def change(self, queue: str, change: BreakerChange,
                     now: datetime) -> tuple[Breaker | None, BreakerEvent | None]:
        after, event = change.apply(queue, self._jobs.breakers.get(queue), now)
        if after is None:
            self._jobs.breakers.pop(queue, None)
        else:
            self._jobs.breakers[queue] = after
        self.events += [event] if event else []
        return after, event

    async def step(self, queues: Sequence[str], step: Step, now: datetime) -> list[BreakerEvent]:
        return self._apply([q for q in sorted(set(queues)) if q in self._jobs.breakers], step)

    async def cool_down(self, now: datetime, limit: int) -> list[BreakerEvent]:
        due = sorted((b for b in self._jobs.breakers.values() if b.state is BreakerState.OPEN
                      and b.half_open_at is not None and b.half_open_at <= now), key=lambda b: b.half_open_at)
        return self._apply([b.queue for b in due[:limit]], lambda b: b.cool_down(now))

    def _apply(self, queues: list[str], step: Step) -> list[BreakerEvent]:
        events = []
        for queue in queues:
            after, event = step(self._jobs.breakers[queue])
            self._jobs.breakers[queue] = after
            events += [event] if event else []
        self.events += events
        return events
