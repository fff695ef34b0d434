"""Coalesced settlement: the Ack, Nack, Snooze and Heartbeat calls of all connected workers that
arrive while earlier ones are being written are settled together, one statement for the group
(coalesce.py), each call answered with the results of its own leases. Fencing is the store's
as before: every lease is checked against its own token inside the shared statement.

Heartbeats are grouped by their lease duration (the statement takes one); past `max_durations`
distinct durations, a heartbeat of a new one is written alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from broker.entities.job import Event
from broker.entities.lease import Failure, LeaseRef
from broker.entities.progress import Progress
from broker.usecases.coalesce import Coalescer, owners
from broker.usecases.ports import Decider, JobStore, LeaseCall

Settled = tuple[list[LeaseCall], list[Event]]


class SettleListener(Protocol):
    def settle_written(self, call: str, calls: int) -> None:
        """One write to the store settled `calls` calls of one kind (ack, nack, snooze, heartbeat)."""


def split_settled(sizes: list[int], settled: Settled) -> list[Settled]:
    """Each call's slice of the lease calls, and the events of the jobs it named first (an event
    of no call's job, such as a callback delivery enqueued by the write, goes to the first call:
    recorded once, never lost)."""
    calls, events = settled
    slices, owner = owners(sizes, [c.ref.job_id for c in calls])
    out: list[Settled] = [(calls[s], []) for s in slices]
    for event in events:
        out[owner.get(event.job_id, 0)][1].append(event)
    return out


def _split_calls(sizes: list[int], calls: list[LeaseCall]) -> list[list[LeaseCall]]:
    slices, _ = owners(sizes, [])
    return [calls[s] for s in slices]


class CoalescedSettlement:
    """A JobStore whose settling writes (complete, fail, snooze, extend, extend_with_progress)
    are coalesced across callers; every other method is the store's own."""

    def __init__(self, store: JobStore, writers: int = 2, max_leases: int = 1000,
                 listener: SettleListener | None = None, max_durations: int = 16) -> None:
        self._store, self._writers, self._max = store, writers, max_leases
        self._heard = listener.settle_written if listener is not None else (lambda call, calls: None)
        self._complete = self._coalescer("ack", self._write_complete, split_settled)
        self._fail = self._coalescer("nack", self._write_fail, split_settled)
        self._snooze = self._coalescer("snooze", self._write_snooze, split_settled)
        self._extend: dict[float | None, Coalescer] = {}
        self._progress: dict[float | None, Coalescer] = {}
        self._max_durations = max_durations

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def _coalescer(self, kind: str, write, split) -> Coalescer:
        return Coalescer(write, split, self._writers, self._max, lambda calls: self._heard(kind, calls))

    async def complete(self, refs: Sequence[LeaseRef], now: datetime,
                       results: Sequence[bytes | None] | None = None) -> Settled:
        return await self._complete(list(zip(refs, results or [None] * len(refs))), now)

    async def _write_complete(self, items: Sequence[tuple[LeaseRef, bytes | None]], now: datetime) -> Settled:
        results = [r for _, r in items]
        return await self._store.complete([ref for ref, _ in items], now,
                                          results if any(r is not None for r in results) else None)

    async def fail(self, items: Sequence[tuple[LeaseRef, Failure]], now: datetime, decide: Decider) -> Settled:
        return await self._fail([(ref, failure, decide) for ref, failure in items], now)

    async def _write_fail(self, items: Sequence[tuple[LeaseRef, Failure, Decider]], now: datetime) -> Settled:
        # The calls' deciders differ only in the moment they were made for: the group's latest.
        return await self._store.fail([(ref, failure) for ref, failure, _ in items], now, items[-1][2])

    async def snooze(self, items: Sequence[tuple[LeaseRef, datetime]], now: datetime) -> Settled:
        return await self._snooze(list(items), now)

    async def _write_snooze(self, items: Sequence[tuple[LeaseRef, datetime]], now: datetime) -> Settled:
        return await self._store.snooze(items, now)

    async def extend(self, refs: Sequence[LeaseRef], lease_duration: float | None, now: datetime) -> list[LeaseCall]:
        group = self._by_duration(self._extend, lease_duration, "heartbeat", _split_calls,
                                  lambda items, at: self._store.extend(items, lease_duration, at))
        if group is None:
            return await self._store.extend(refs, lease_duration, now)
        return await group(list(refs), now)

    async def extend_with_progress(self, refs: Sequence[LeaseRef], progress: Sequence[Progress | None],
                                   lease_duration: float | None, now: datetime) -> Settled:
        group = self._by_duration(self._progress, lease_duration, "heartbeat", split_settled,
                                  lambda items, at: self._store.extend_with_progress(
                                      [r for r, _ in items], [p for _, p in items], lease_duration, at))
        if group is None:
            return await self._store.extend_with_progress(refs, progress, lease_duration, now)
        return await group(list(zip(refs, progress)), now)

    def _by_duration(self, groups: dict, duration: float | None, kind: str, split, write) -> Coalescer | None:
        found = groups.get(duration)
        if found is None and len(groups) < self._max_durations:
            found = groups[duration] = self._coalescer(kind, write, split)
        return found
