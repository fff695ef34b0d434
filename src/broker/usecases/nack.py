"""Nack: fail attempts; the retry policy decides between a retry and the dead letter queue."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState, storable
from broker.entities.lease import Failure, LeaseRef, LeaseResult, decide_failure
from broker.entities.queue import Limits
from broker.usecases.ports import Clock, Decider, EventSink, JobStore
from broker.usecases.settle import check_refs, results

MAX_ERROR_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class NackItem:
    ref: LeaseRef
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None


def decider(now, rng: random.Random | None) -> Decider:
    return lambda job, failure: decide_failure(job.attempt, job.max_attempts, job.retry, failure, now, rng)


class Nack:
    """RUNNING -> PENDING after the backoff, or -> DEAD when permanent or out of attempts."""

    def __init__(self, store: JobStore, clock: Clock, events: EventSink, limits: Limits,
                 rng: random.Random | None = None) -> None:
        self._store, self._clock, self._events, self._limits = store, clock, events, limits
        self._rng = rng

    async def __call__(self, items: Sequence[NackItem], request_id: str | None = None) -> list[LeaseResult]:
        check_refs([i.ref for i in items], self._limits, "items")
        for n, item in enumerate(items):
            if item.retry_after is not None and not 0 <= item.retry_after <= 366 * 86400:
                raise InvalidArgument(f"items[{n}].retry_after", "must be between 0 and a year")
        failures = [(i.ref, Failure(storable(i.error[:MAX_ERROR_CHARS]) or "nacked", i.permanent, i.retry_after))
                    for i in items]
        now = self._clock.now()
        calls, events = await self._store.fail(failures, now, decider(now, self._rng))
        self._events.record(events, request_id)
        return results(calls, (JobState.PENDING, JobState.DEAD))
