"""Snooze: hand leased jobs back to run later, without using an attempt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from broker.entities.job import Reason
from broker.entities.lease import LeaseRef, LeaseResult, fence
from broker.entities.queue import Limits
from broker.usecases.lease_calls import check_items, results
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier


@dataclass(frozen=True, slots=True)
class SnoozeItem:
    """A lease to hand back, and in how many seconds its job may run again."""

    ref: LeaseRef
    delay: float = 0.0


class Snooze:
    """RUNNING -> PENDING with run_at = now + delay (0 to max_snooze seconds). The lease's attempt
    is given back, so a snooze never brings a job nearer the dead letter queue; the job counts
    its snoozes. Fenced like Ack and Nack: a stale token is LOST, a repeat with the same token
    is OK and changes nothing (the first delay stands)."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 limits: Limits) -> None:
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events
        self._limits = limits

    async def __call__(self, items: Sequence[SnoozeItem]) -> list[LeaseResult]:
        check_items([i.ref for i in items], self._limits)
        for n, item in enumerate(items):
            self._limits.check_snooze(item.delay, f"items[{n}].delay")
        now = self._clock.now()
        calls, events = await self._store.snooze(
            [(i.ref, now + timedelta(seconds=i.delay)) for i in items], now)
        self._events.record(events)
        # Jobs due at once wake this replica's long polls now (the store's NOTIFY wakes the others').
        due = {c.ref.job_id.lower() for c in calls if c.changed and c.at is not None and c.at <= now}
        ready = sorted({e.queue for e in events if e.job_id in due})
        if ready:
            self._notifier.notify(ready)
        return results(calls, fence(Reason.SNOOZE))
