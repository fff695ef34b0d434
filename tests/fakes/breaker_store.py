"""The BreakerStore in memory, sharing its breakers with an InMemoryJobStore (whose claim obeys
them); tests/contract/test_breakers.py holds both to the PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from broker.entities import callback
from broker.entities.breaker import Breaker, BreakerEvent, BreakerState
from broker.entities.breaker_settings import BreakerChange
from broker.usecases.queues.breaker_ports import Step
from tests.fakes.memory_store import InMemoryJobStore


class InMemoryBreakerStore:
    """`record` hears of the callback deliveries a breaker's opening made, as PgBreakerStore's."""

    def __init__(self, jobs: InMemoryJobStore, record=None) -> None:
        self._jobs = jobs
        self.events: list[BreakerEvent] = []
        self._record = record or (lambda events: None)

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
        self._log([event] if event else [], now)
        return after, event

    async def step(self, queues: Sequence[str], step: Step, now: datetime) -> list[BreakerEvent]:
        return self._apply([q for q in sorted(set(queues)) if q in self._jobs.breakers], step, now)

    async def cool_down(self, now: datetime, limit: int) -> list[BreakerEvent]:
        due = sorted((b for b in self._jobs.breakers.values() if b.state is BreakerState.OPEN
                      and b.half_open_at is not None and b.half_open_at <= now), key=lambda b: b.half_open_at)
        return self._apply([b.queue for b in due[:limit]], lambda b: b.cool_down(now), now)

    def _apply(self, queues: list[str], step: Step, now: datetime) -> list[BreakerEvent]:
        events = []
        for queue in queues:
            after, event = step(self._jobs.breakers[queue])
            self._jobs.breakers[queue] = after
            events += [event] if event else []
        self._log(events, now)
        return events

    def _log(self, events: list[BreakerEvent], now: datetime) -> None:
        """As infra/pg/breakers.py: the changes kept, and a delivery for each subscription that
        asked to hear of its queue's breaker opening (subscriptions by name, then events)."""
        self.events += events
        opened = callback.CallbackEvent.QUEUE_BREAKER_OPENED
        subs = [self._jobs.subscriptions[n] for n in sorted(self._jobs.subscriptions)]
        for sub in subs:
            for e in sorted((e for e in events if e.to_state is BreakerState.OPEN), key=lambda e: e.queue):
                if sub.wants(opened, e.queue, None):
                    body = callback.breaker_body(e.queue, e.from_state.value, e.reason, e.forced, e.at)
                    self._jobs.deliver(sub, opened, body, now)
        made = self._jobs.take_made()
        if made:
            self._record(made)
