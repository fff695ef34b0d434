"""Group commit for producers: Enqueue and EnqueueBatch calls that arrive while earlier writes
are in flight are written together, by one statement in one transaction, and each caller is
answered with its own results only after that commit.

There is no timer. A call that finds a writer free writes at once, alone, exactly as without
group commit (zero extra wait on an idle broker); a call that finds every writer busy joins the
group that the next free writer takes, so it waits for at most the writes in flight. A group is
bounded by `max_jobs`. A group that fails for a reason other than the database being away is
written again call by call, so a bad call never fails its neighbours."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from broker.entities.errors import Unavailable
from broker.entities.job import Event
from broker.usecases.ports import Inserted, NewJob

Written = tuple[list[Inserted], list[Event]]
Write = Callable[[Sequence[NewJob], datetime], Awaitable[Written]]


class WriteListener(Protocol):
    def enqueue_written(self, calls: int) -> None:
        """One write to the store carried `calls` Enqueue calls (1: a call written alone)."""


@dataclass(eq=False, slots=True)
class _Call:
    jobs: Sequence[NewJob]
    now: datetime
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settle(self, result: Written | None = None, error: BaseException | None = None) -> None:
        if self.answer.done():  # the caller is gone (cancelled); its jobs were written anyway
            return
        if error is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(result)


class GroupCommit:
    """A JobStore.enqueue with concurrent calls coalesced. `writers`: how many group writes may
    be in flight at once; `max_jobs`: the most jobs one group write carries (a single call
    larger than that is written alone); `listener` hears how many calls each write carried."""

    def __init__(self, write: Write, writers: int = 2, max_jobs: int = 1000,
                 listener: WriteListener | None = None) -> None:
        if writers < 1 or max_jobs < 1:
            raise ValueError("writers and max_jobs must be at least 1")
        self._write, self._writers, self._max_jobs = write, writers, max_jobs
        self._heard = listener.enqueue_written if listener is not None else (lambda calls: None)
        self._busy = 0
        self._waiting: deque[_Call] = deque()
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, jobs: Sequence[NewJob], now: datetime) -> Written:
        if self._busy < self._writers and not self._waiting:
            self._busy += 1
            self._heard(1)
            try:
                return await self._write(jobs, now)
            finally:
                self._busy -= 1
                self._start()
        call = _Call(jobs, now)
        self._waiting.append(call)
        self._start()
        try:
            return await call.answer
        except asyncio.CancelledError:
            if call in self._waiting:  # not taken yet: its jobs are never written
                self._waiting.remove(call)
            raise

    def _start(self) -> None:
        while self._busy < self._writers and self._waiting:
            group = [self._waiting.popleft()]
            size = len(group[0].jobs)
            while self._waiting and size + len(self._waiting[0].jobs) <= self._max_jobs:
                call = self._waiting.popleft()
                group.append(call)
                size += len(call.jobs)
            self._busy += 1
            # A context of its own: the write belongs to no single caller (request id, deadline).
            task = asyncio.get_running_loop().create_task(self._flush(group), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, group: list[_Call]) -> None:
        try:
            self._heard(len(group))
            if len(group) == 1:
                await self._alone(group[0])
                return
            try:
                inserted, events = await self._write([j for c in group for j in c.jobs], max(c.now for c in group))
            except Unavailable as exc:
                for call in group:
                    call.settle(error=exc)
                return
            except Exception:  # noqa: BLE001 - one call's jobs may be the cause: write each alone
                for call in group:
                    await self._alone(call)
                return
            for call, result in zip(group, _split(group, inserted, events)):
                call.settle(result)
        except asyncio.CancelledError:  # the broker is stopping: no caller is left waiting
            for call in group:
                call.settle(error=Unavailable("the broker stopped before the write finished; retry"))
            raise
        finally:
            self._busy -= 1
            self._start()

    async def _alone(self, call: _Call) -> None:
        try:
            result = await self._write(call.jobs, call.now)
        except Exception as exc:  # noqa: BLE001 - the caller's own error, raised in its call
            call.settle(error=exc)
        else:
            call.settle(result)


def _split(group: list[_Call], inserted: list[Inserted], events: list[Event]) -> list[Written]:
    """Each call's slice of the results, in its own order, and the events of its jobs (an event
    of no call's job, should a store write one, goes to the first call: logged once, never lost)."""
    owner: dict[str, int] = {}
    out: list[Written] = []
    start = 0
    for index, call in enumerate(group):
        mine = inserted[start:start + len(call.jobs)]
        start += len(call.jobs)
        owner.update((r.job_id, index) for r in mine if r.created)
        out.append((mine, []))
    for event in events:
        out[owner.get(event.job_id, 0)][1].append(event)
    return out
