"""The breakers' own moves: outcomes counted after Ack, Nack and the reaper, and the cool-down
pass. Every change of a breaker's state is an event row (the store writes it) and a log line."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from broker.entities.breaker import BreakerEvent, BreakerState, outcome
from broker.entities.job import Event
from broker.usecases.ports import Clock, Notifier
from broker.usecases.queues.breaker_ports import BreakerStore

log = logging.getLogger("broker.queues")


def announce(events: Sequence[BreakerEvent], notifier: Notifier) -> None:
    """One log line per change; a breaker that lets jobs through again wakes the queue's long
    polls here (the store's NOTIFY wakes the other replicas')."""
    for e in events:
        log.info("queue %s: breaker %s -> %s: %s", e.queue, e.from_state.value, e.to_state.value, e.reason,
                 extra={"queue": e.queue, "breaker_from": e.from_state.value, "breaker_to": e.to_state.value,
                        "reason": e.reason, "forced": e.forced})
    opened = sorted({e.queue for e in events if e.to_state is not BreakerState.OPEN})
    if opened:
        notifier.notify(opened)


class CountOutcomes:
    """Feeds the attempts' outcomes (entities.breaker.outcome) of queues with a breaker to their
    breakers, after the change that produced them committed. Queues without one cost nothing."""

    def __init__(self, store: BreakerStore, clock: Clock, notifier: Notifier) -> None:
        self._store, self._clock, self._notifier = store, clock, notifier

    async def __call__(self, events: Sequence[Event]) -> None:
        if not events:
            return
        names = await self._store.configured()
        if not names:
            return
        tally: dict[str, list[int]] = {}
        for e in events:
            if e.queue in names and (ok := outcome(e.reason)) is not None:
                tally.setdefault(e.queue, [0, 0])[0 if ok else 1] += 1
        if tally:
            now = self._clock.now()
            announce(await self._store.step(sorted(tally), lambda b: b.record(*tally[b.queue], now), now),
                     self._notifier)


class CoolDownBreakers:
    """One pass: OPEN breakers whose cool-down is over go HALF_OPEN (the runner repeats it)."""

    def __init__(self, store: BreakerStore, clock: Clock, notifier: Notifier, batch: int = 100) -> None:
        self._store, self._clock, self._notifier, self._batch = store, clock, notifier, batch

    async def run_once(self) -> int:
        events = await self._store.cool_down(self._clock.now(), self._batch)
        announce(events, self._notifier)
        return len(events)
