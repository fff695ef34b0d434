"""Heartbeat: extend the leases a worker still holds and name the ones it lost."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.lease import LeaseRef, LeaseResult, fence
from broker.entities.queue import Limits
from broker.usecases.ports import Clock, JobStore
from broker.usecases.lease_calls import check_refs, results


class Heartbeat:
    """Pushes each held lease's deadline by its duration (or the given one)."""

    def __init__(self, store: JobStore, clock: Clock, limits: Limits) -> None:
        self._store, self._clock, self._limits = store, clock, limits

    async def __call__(self, refs: Sequence[LeaseRef], lease_duration: float | None = None) -> list[LeaseResult]:
        check_refs(refs, self._limits, "leases")
        if lease_duration is not None:
            self._limits.check_lease_duration(lease_duration, "lease_duration")
        calls = await self._store.extend(refs, lease_duration, self._clock.now())
        return results(calls, fence(None))
