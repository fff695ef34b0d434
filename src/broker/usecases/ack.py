"""Ack: complete jobs whose lease the worker still holds."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.job import Reason
from broker.entities.lease import LeaseRef, LeaseResult, fence
from broker.entities.queue import Limits
from broker.usecases.ports import Clock, EventSink, JobStore
from broker.usecases.lease_calls import check_refs, results


class Ack:
    """RUNNING -> SUCCEEDED. A repeat with the same token succeeds without a second change."""

    def __init__(self, store: JobStore, clock: Clock, events: EventSink, limits: Limits) -> None:
        self._store, self._clock, self._events, self._limits = store, clock, events, limits

    async def __call__(self, refs: Sequence[LeaseRef]) -> list[LeaseResult]:
        check_refs(refs, self._limits, "leases")
        calls, events = await self._store.complete(refs, self._clock.now())
        self._events.record(events)
        return results(calls, fence(Reason.ACK))
