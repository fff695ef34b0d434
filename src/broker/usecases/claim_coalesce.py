"""One claim for many waiting workers: Lease calls (long polls woken by new work, and their
re-checks) that are ready to claim on the same queues while earlier claims of those queues are
in flight are claimed together, by one claim of the store for the sum of their limits, and the
jobs are split among them in lease order: the longest-waiting call gets the highest-priority,
oldest jobs, up to its limit, then the next call.

The shape is group commit's (group_commit.py): no timer. A call that finds fewer than `claimers`
claims of its queues in flight starts one at once (zero extra wait on an idle broker), which takes
every call waiting when it first runs: alone, it is the store's own claim; a call that finds the
claimers all busy joins the group the next free claimer takes. A group carries at most
`max_jobs` jobs' worth of limits.

A claim runs in a task of its own, never in its caller's: a call cancelled (or past its
deadline) while its share is being claimed leaves the claim to finish, and the jobs leased for it
are released at once (JobStore.release: PENDING again, attempt given back), never left leased
until their lease expires. A call cancelled before its group was taken is simply dropped."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from broker.entities.errors import Unavailable
from broker.entities.job import Event, Job
from broker.entities.lease import LeaseRef
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier, Taker

log = logging.getLogger("broker.claims")

Claimed = tuple[list[Job], list[Event]]
# JobStore.claim's shape: (queues, worker_id, limit, lease_duration, now).
Claim = Callable[[Sequence[str], str, int, float | None, datetime], Awaitable[Claimed]]


class ClaimListener(Protocol):
    def claimed(self, calls: int) -> None:
        """One claim of the store served `calls` Lease calls (1: a call claimed alone)."""


@dataclass(eq=False, slots=True)
class _Call:
    queues: Sequence[str]
    taker: Taker
    now: datetime
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settle(self, result: Claimed | None = None, error: BaseException | None = None) -> bool:
        """Answer the caller; False when it is gone (cancelled) and nobody takes the result."""
        if self.answer.done():
            return False
        if error is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(result)
        return True


@dataclass(eq=False, slots=True)
class _Line:
    """The calls of one set of queues: claims in flight, calls waiting for the next group."""

    busy: int = 0  # claimers started and not finished
    starting: bool = False  # a claimer started that has not taken its group yet
    waiting: deque[_Call] = field(default_factory=deque)


class ClaimCoalescer:
    """A JobStore.claim with concurrent calls on the same queues coalesced (the module's
    docstring). `claimers`: claims of one set of queues in flight at once; `max_jobs`: the most
    jobs one claim asks for (a call asking more is claimed alone); `listener` hears how many calls
    each claim served."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 claimers: int = 2, max_jobs: int = 1000, listener: ClaimListener | None = None) -> None:
        if claimers < 1 or max_jobs < 1:
            raise ValueError("claimers and max_jobs must be at least 1")
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events
        self._claimers, self._max_jobs = claimers, max_jobs
        self._heard = listener.claimed if listener is not None else (lambda calls: None)
        self._lines: dict[frozenset[str], _Line] = {}
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, queues: Sequence[str], worker_id: str, limit: int,
                       lease_duration: float | None, now: datetime) -> Claimed:
        key = frozenset(queues)
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = _Line()
        call = _Call(queues, Taker(worker_id, limit, lease_duration), now)
        line.waiting.append(call)
        self._start(key, line)
        try:
            return await call.answer
        except asyncio.CancelledError:
            if call in line.waiting:  # not taken yet: nothing is claimed for it
                line.waiting.remove(call)
            elif call.answer.done() and not call.answer.cancelled() and call.answer.exception() is None:
                # Answered, but cancelled before it could take the answer: nobody has its jobs.
                self._spawn(self._give_back(call.answer.result()))
            raise

    def _start(self, key: frozenset[str], line: _Line) -> None:
        """Start a claimer when one is free: it takes its group when it first runs, so every call
        that arrived meanwhile (long polls woken by one notification resume together) joins it."""
        if line.busy < self._claimers and line.waiting and not line.starting:
            line.busy += 1
            line.starting = True
            self._spawn(self._flush(key, line))

    def _take(self, line: _Line) -> list[_Call]:
        group: list[_Call] = []
        size = 0
        while line.waiting and (not group or size + line.waiting[0].taker.limit <= self._max_jobs):
            call = line.waiting.popleft()
            group.append(call)
            size += call.taker.limit
        return group

    def _spawn(self, work: Awaitable[None]) -> None:
        # A context of its own: the claim belongs to no single caller (request id, deadline).
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, key: frozenset[str], line: _Line) -> None:
        line.starting = False
        group = self._take(line)
        self._start(key, line)  # the calls one group could not carry, if a claimer is free
        try:
            if not group:  # all cancelled before this claimer ran
                return
            self._heard(len(group))
            try:
                shares = await self._claim(group)
            except Exception as exc:  # noqa: BLE001 - the store's error, raised in every caller
                for call in group:
                    call.settle(error=exc)
                return
            gone = [share for call, share in zip(group, shares) if not call.settle(share)]
            if gone:
                await self._give_back((
                    [j for jobs, _ in gone for j in jobs], [e for _, events in gone for e in events]))
        except asyncio.CancelledError:  # the broker is stopping: no caller is left waiting
            for call in group:
                call.settle(error=Unavailable("the broker stopped before the claim finished; retry"))
            raise
        finally:
            line.busy -= 1
            self._start(key, line)
            if not line.busy and not line.waiting and self._lines.get(key) is line:
                del self._lines[key]

    async def _claim(self, group: list[_Call]) -> list[Claimed]:
        first = group[0]
        if len(group) == 1:
            t = first.taker
            return [await self._store.claim(first.queues, t.worker_id, t.limit, t.lease_duration, first.now)]
        takers = [c.taker for c in group]
        jobs, events = await self._store.claim_for(first.queues, takers, max(c.now for c in group))
        return split(takers, jobs, events)

    async def _give_back(self, claimed: Claimed) -> None:
        """The jobs of calls that are gone: their leases happened (recorded), and are undone now."""
        jobs, events = claimed
        if not jobs:
            return
        self._events.record(events)
        try:
            released = await self._store.release([LeaseRef(j.id, j.lease_token) for j in jobs], self._clock.now())
        except Exception as exc:  # noqa: BLE001 - the leases then lapse and the reaper redelivers them
            log.warning("could not release %d jobs leased for Lease calls that were gone: %s", len(jobs), exc)
            return
        self._events.record(released)
        self._notifier.notify(sorted({j.queue for j in jobs}))


def counted(claim: Claim, listener: ClaimListener | None) -> Claim:
    """The store's claim without coalescing, each claim heard as serving one call."""
    if listener is None:
        return claim

    async def claim_alone(queues: Sequence[str], worker_id: str, limit: int, lease_duration: float | None,
                          now: datetime) -> Claimed:
        listener.claimed(1)
        return await claim(queues, worker_id, limit, lease_duration, now)
    return claim_alone


def split(takers: Sequence[Taker], jobs: Sequence[Job], events: Sequence[Event]) -> list[Claimed]:
    """Each taker's share of a claim made for all of them (JobStore.claim_for): the jobs in the
    order the store leased them, the first taker's limit of them to the first taker, then the
    next taker's; each job's events go with it (an event of no taker's job goes to the first)."""
    owner: dict[str, int] = {}
    shares: list[Claimed] = []
    start = 0
    for index, taker in enumerate(takers):
        mine = list(jobs[start:start + taker.limit])
        start += taker.limit
        owner.update((j.id, index) for j in mine)
        shares.append((mine, []))
    for event in events:
        shares[owner.get(event.job_id, 0)][1].append(event)
    return shares
