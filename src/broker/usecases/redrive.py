"""RedriveJobs: dead jobs back to ready."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.queue import Limits
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier
from broker.usecases.targets import check_targets


class RedriveJobs:
    """DEAD -> PENDING, ready now; by default with a fresh set of attempts."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 limits: Limits) -> None:
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events
        self._limits = limits

    async def __call__(self, job_ids: Sequence[str], queue: str | None, reset_attempts: bool = True) -> list[str]:
        ids = check_targets(job_ids, queue, self._limits)
        redriven, events = await self._store.redrive(ids, queue or None, reset_attempts, self._clock.now())
        self._events.record(events)
        if events:
            self._notifier.notify(sorted({e.queue for e in events}))
        return redriven
