"""Group commit for producers: Enqueue and EnqueueBatch calls that arrive while earlier writes
are in flight are written together, by one statement in one transaction, and each caller is
answered with its own results only after that commit (the mechanism: coalesce.py; zero extra wait
on an idle broker, a group bounded by `max_jobs`, a bad call never fails its neighbours)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from broker.entities.job import Event
from broker.usecases.coalesce import Coalescer
from broker.usecases.ports import Inserted, NewJob

Written = tuple[list[Inserted], list[Event]]
Write = Callable[[Sequence[NewJob], datetime], Awaitable[Written]]


class WriteListener(Protocol):
    def enqueue_written(self, calls: int) -> None:
        """One write to the store carried `calls` Enqueue calls (1: a call written alone)."""


class GroupCommit(Coalescer[NewJob, Written]):
    """A JobStore.enqueue with concurrent calls coalesced. `writers`: how many group writes may
    be in flight at once; `max_jobs`: the most jobs one group write carries (a single call
    larger than that is written alone); `listener` hears how many calls each write carried."""

    def __init__(self, write: Write, writers: int = 2, max_jobs: int = 1000,
                 listener: WriteListener | None = None) -> None:
        super().__init__(write, _split, writers, max_jobs, listener.enqueue_written if listener is not None else None)


def _split(sizes: list[int], written: Written) -> list[Written]:
    """Each call's slice of the results, in its own order, and the events of its jobs (an event
    of no call's job, should a store write one, goes to the first call: logged once, never lost)."""
    inserted, events = written
    owner: dict[str, int] = {}
    out: list[Written] = []
    start = 0
    for index, size in enumerate(sizes):
        mine = inserted[start:start + size]
        start += size
        owner.update((r.job_id, index) for r in mine if r.created)
        out.append((mine, []))
    for event in events:
        out[owner.get(event.job_id, 0)][1].append(event)
    return out
