"""Coalescing: concurrent calls of one store write that arrive while earlier writes are in flight
are carried out together, by one statement in one transaction, and each caller is answered with
its own slice of the result only after that commit. Group commit of Enqueue (group_commit.py) and
the settlement of Ack, Nack and Heartbeat (settlement.py) are built on it.

There is no timer. A call that finds a writer free writes at once, alone, exactly as without
coalescing (zero extra wait on an idle broker); a call that finds every writer busy joins the
group that the next free writer takes, so it waits for at most the writes in flight. A group is
bounded by `max_items`. A group that fails for a reason other than the database being away is
written again call by call, so a bad call never fails its neighbours."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from broker.entities.errors import Unavailable

Item = TypeVar("Item")
Out = TypeVar("Out")
# The store's write of the items of one or more calls, at one time.
Write = Callable[[Sequence[Item], datetime], Awaitable[Out]]
# A group's result cut into each call's own: given each call's item count, in the group's order.
Split = Callable[[list[int], Out], list[Out]]


@dataclass(eq=False, slots=True)
class _Call(Generic[Item]):
    items: Sequence[Item]
    now: datetime
    answer: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settle(self, result: object = None, error: BaseException | None = None) -> None:
        if self.answer.done():  # the caller is gone (cancelled); its items were written anyway
            return
        if error is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(result)


class Coalescer(Generic[Item, Out]):
    """`write` with concurrent calls coalesced. `writers`: how many writes may be in flight at
    once; `max_items`: the most items one group write carries (a single call larger than that is
    written alone); `heard(calls)` learns how many calls each write carried (1: written alone)."""

    def __init__(self, write: Write, split: Split, writers: int = 2, max_items: int = 1000,
                 heard: Callable[[int], None] | None = None) -> None:
        if writers < 1 or max_items < 1:
            raise ValueError("writers and max_items must be at least 1")
        self._write, self._split, self._writers, self._max_items = write, split, writers, max_items
        self._heard = heard or (lambda calls: None)
        self._busy = 0
        self._waiting: deque[_Call] = deque()
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, items: Sequence[Item], now: datetime) -> Out:
        if self._busy < self._writers and not self._waiting:
            self._busy += 1
            self._heard(1)
            try:
                return await self._write(items, now)
            finally:
                self._busy -= 1
                self._start()
        call = _Call(items, now)
        self._waiting.append(call)
        self._start()
        try:
            return await call.answer
        except asyncio.CancelledError:
            if call in self._waiting:  # not taken yet: its items are never written
                self._waiting.remove(call)
            raise

    def _start(self) -> None:
        while self._busy < self._writers and self._waiting:
            group = [self._waiting.popleft()]
            size = len(group[0].items)
            while self._waiting and size + len(self._waiting[0].items) <= self._max_items:
                call = self._waiting.popleft()
                group.append(call)
                size += len(call.items)
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
                out = await self._write([i for c in group for i in c.items], max(c.now for c in group))
            except Unavailable as exc:
                for call in group:
                    call.settle(error=exc)
                return
            except Exception:  # noqa: BLE001 - one call's items may be the cause: write each alone
                for call in group:
                    await self._alone(call)
                return
            for call, result in zip(group, self._split([len(c.items) for c in group], out)):
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
            result = await self._write(call.items, call.now)
        except Exception as exc:  # noqa: BLE001 - the caller's own error, raised in its call
            call.settle(error=exc)
        else:
            call.settle(result)


def owners(sizes: list[int], job_ids: Sequence[str]) -> tuple[list[slice], dict[str, int]]:
    """Each call's slice of a group's items, and for each job id the first call naming it (the
    call whose answer carries that job's events)."""
    slices, owner, start = [], {}, 0
    for index, size in enumerate(sizes):
        slices.append(slice(start, start + size))
        for job_id in job_ids[start:start + size]:
            owner.setdefault(job_id, index)
        start += size
    return slices, owner
