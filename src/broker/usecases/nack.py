"""Nack: fail attempts; the retry policy decides between a retry and the dead letter queue."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState, Reason, storable
from broker.entities.lease import Failure, LeaseRef, LeaseResult, decide_failure, fence
from broker.entities.queue import Limits
from broker.usecases.ports import Clock, Decider, EventSink, JobStore, Notifier, OutcomeSink
from broker.usecases.lease_calls import check_items, results


@dataclass(frozen=True, slots=True)
class NackItem:
    ref: LeaseRef
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None


def decider(now, rng: random.Random | None) -> Decider:
    return lambda job, failure: decide_failure(
        job.attempt, job.max_attempts, job.retry, failure, now, rng,
        lease_expiries=job.lease_expiries, max_lease_expiries=job.max_lease_expiries)


class Nack:
    """RUNNING -> PENDING after the backoff, or -> DEAD when permanent or out of attempts."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink, limits: Limits,
                 rng: random.Random | None = None, outcomes: OutcomeSink | None = None) -> None:
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events
        self._limits, self._rng, self._outcomes = limits, rng, outcomes

    async def __call__(self, items: Sequence[NackItem]) -> list[LeaseResult]:
        limits = self._limits
        check_items([i.ref for i in items], limits)
        for n, item in enumerate(items):
            if item.retry_after is not None and not 0 <= item.retry_after <= limits.max_retry_after:
                raise InvalidArgument(f"items[{n}].retry_after", f"must be 0 to {limits.max_retry_after:.0f} seconds")
        cut = limits.max_error_chars
        failures = [(i.ref, Failure(storable(i.error[:cut]) or "nacked", i.permanent, i.retry_after)) for i in items]
        now = self._clock.now()
        calls, events = await self._store.fail(failures, now, decider(now, self._rng))
        self._events.record(events)
        if self._outcomes is not None:
            await self._outcomes(events)
        # Retries due at once wake this replica's long polls now (the store's NOTIFY wakes the
        # other replicas'); later ones are found by the polls' re-check.
        due = {c.ref.job_id.lower() for c in calls if c.changed and c.at is not None and c.at <= now}
        ready = {e.queue for e in events if e.job_id in due and e.to_state is JobState.PENDING}
        if ready:
            self._notifier.notify(sorted(ready))
        return results(calls, fence(Reason.NACK))
