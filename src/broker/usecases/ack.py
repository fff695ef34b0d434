"""Ack: complete jobs whose lease the worker still holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.entities.errors import InvalidArgument
from broker.entities.job import Reason
from broker.entities.lease import LeaseRef, LeaseResult, fence
from broker.entities.queue import Limits
from broker.usecases.ports import Clock, EventSink, JobStore, OutcomeSink
from broker.usecases.lease_calls import check_refs, check_with_items, results


@dataclass(frozen=True, slots=True)
class AckItem:
    """A lease to complete and the job's result to keep with it (None: no result)."""

    ref: LeaseRef
    result: bytes | None = None


class Ack:
    """RUNNING -> SUCCEEDED, each job keeping the result its item carried (at most
    max_result_bytes). A repeat with the same token succeeds without a second change (the first
    result stays). Results come for `refs` first, then for `items`."""

    def __init__(self, store: JobStore, clock: Clock, events: EventSink, limits: Limits,
                 outcomes: OutcomeSink | None = None) -> None:
        self._store, self._clock, self._events, self._limits = store, clock, events, limits
        self._outcomes = outcomes

    async def __call__(self, refs: Sequence[LeaseRef], items: Sequence[AckItem] = ()) -> list[LeaseResult]:
        if items:
            self._check_items(refs, items)
        else:
            check_refs(refs, self._limits, "leases")
        every = [*refs, *(item.ref for item in items)]
        kept = [None] * len(refs) + [item.result for item in items] if items else None
        calls, events = await self._store.complete(every, self._clock.now(), kept)
        self._events.record(events)
        if self._outcomes is not None:
            await self._outcomes(events)
        return results(calls, fence(Reason.ACK))

    def _check_items(self, refs: Sequence[LeaseRef], items: Sequence[AckItem]) -> None:
        limits = self._limits
        check_with_items(refs, [item.ref for item in items], limits)
        for i, item in enumerate(items):
            if item.result is not None and len(item.result) > limits.max_result_bytes:
                raise InvalidArgument(f"items[{i}].result", f"{len(item.result)} bytes is over the limit of "
                                                            f"{limits.max_result_bytes} bytes")
