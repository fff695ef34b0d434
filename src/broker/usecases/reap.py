"""Reap: a lapsed lease is a failed attempt ("lease expired"), retried or dead-lettered."""

from __future__ import annotations

import random

from broker.entities.job import JobState
from broker.usecases.nack import decider
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier, OutcomeSink


class ReapExpired:
    """One pass of the reaper; returns how many lapsed leases it handled."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 batch: int = 1000, rng: random.Random | None = None, outcomes: OutcomeSink | None = None) -> None:
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events
        self._batch, self._rng, self._outcomes = batch, rng, outcomes

    async def run_once(self) -> int:
        now = self._clock.now()
        events = await self._store.rescue_expired(now, self._batch, decider(now, self._rng))
        self._events.record(events)
        if self._outcomes is not None:
            await self._outcomes(events)
        ready = sorted({e.queue for e in events if e.to_state is JobState.PENDING})
        if ready:
            self._notifier.notify(ready)
        return len(events)
