"""Heartbeat: extend the leases a worker still holds, keep the progress they report, and name
the leases the worker lost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.entities.lease import LeaseRef, LeaseResult, fence
from broker.entities.progress import Progress, check_progress
from broker.entities.queue import Limits
from broker.usecases.lease_calls import check_refs, check_with_items, results
from broker.usecases.ports import Clock, EventSink, JobStore


@dataclass(frozen=True, slots=True)
class HeartbeatItem:
    """A lease to extend, with the progress its job reports (None: none)."""

    ref: LeaseRef
    progress: Progress | None = None


class Heartbeat:
    """Pushes each held lease's deadline by its duration (or the given one). Progress is kept
    with its job, and a change of it is a PROGRESS event; a heartbeat without progress costs
    what it always did (one statement, no event). Results come for `refs` first, then `items`."""

    def __init__(self, store: JobStore, clock: Clock, limits: Limits, events: EventSink) -> None:
        self._store, self._clock, self._limits, self._events = store, clock, limits, events

    async def __call__(self, refs: Sequence[LeaseRef], lease_duration: float | None = None,
                       items: Sequence[HeartbeatItem] = ()) -> list[LeaseResult]:
        if items:
            self._check_items(refs, items)
        else:
            check_refs(refs, self._limits, "leases")
        if lease_duration is not None:
            self._limits.check_lease_duration(lease_duration, "lease_duration")
        now = self._clock.now()
        if not any(item.progress is not None for item in items):
            calls = await self._store.extend([*refs, *(i.ref for i in items)], lease_duration, now)
            return results(calls, fence(None))
        progress = [None] * len(refs) + [item.progress for item in items]
        calls, events = await self._store.extend_with_progress(
            [*refs, *(i.ref for i in items)], progress, lease_duration, now)
        self._events.record(events)
        return results(calls, fence(None))

    def _check_items(self, refs: Sequence[LeaseRef], items: Sequence[HeartbeatItem]) -> None:
        limits = self._limits
        check_with_items(refs, [item.ref for item in items], limits)
        for i, item in enumerate(items):
            if item.progress is not None:
                check_progress(item.progress, limits.max_progress_chars, f"items[{i}].progress")
