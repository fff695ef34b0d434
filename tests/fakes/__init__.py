"""Fakes for the use-case ports: a clock tests move by hand, a notifier and an event sink that
record what they were told, and (in memory_store) a JobStore that keeps everything in memory.

The in-memory store is checked against the PostgreSQL one by tests/contract, so it cannot drift.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

from broker.entities.job import Event
from broker.usecases import context
from tests.fakes.memory_store import InMemoryJobStore

__all__ = ["InMemoryJobStore", "ManualClock", "RecordingEventSink", "RecordingNotifier"]

EPOCH = datetime(2030, 1, 1, tzinfo=timezone.utc)


class ManualClock:
    """Stands still until a test moves it."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


class RecordingNotifier:
    """Records notifications and waits.

    With a clock, a wait that nobody ends by notifying one of its queues (while the waiter yields
    to the loop once) moves the clock by its timeout and returns: simulated time, no sleeping.
    Without a clock, a wait lasts until `notify` names one of its queues or `close` is called,
    whatever its timeout: a test decides when it ends.
    """

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.notified: list[list[str]] = []
        self.waits: list[tuple[tuple[str, ...], float]] = []
        self._clock = clock
        self._waiters: list[tuple[frozenset[str], asyncio.Event]] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        """How many waits are in progress."""
        return len(self._waiters)

    def notify(self, queues: Sequence[str]) -> None:
        self.notified.append(list(queues))
        for names, event in self._waiters:
            if names.intersection(queues):
                event.set()

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        self.waits.append((tuple(queues), timeout))
        if self._closed:
            return
        entry = (frozenset(queues), asyncio.Event())
        self._waiters.append(entry)
        try:
            if self._clock is None:
                await entry[1].wait()
            else:
                await asyncio.sleep(0)
                if not entry[1].is_set():
                    self._clock.advance(timeout)
        finally:
            self._waiters.remove(entry)

    def close(self) -> None:
        self._closed = True
        for _, event in self._waiters:
            event.set()


@contextlib.contextmanager
def serving(request_id: str) -> Iterator[None]:
    """Run the block as the call `request_id` (the edge's request id stage sets the contextvar)."""
    token = context.request_id.set(request_id)
    try:
        yield
    finally:
        context.request_id.reset(token)


class RecordingEventSink:
    """Keeps every event it is told of, and the request id of the call it came from."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.calls: list[tuple[list[Event], str | None]] = []

    def record(self, events: Sequence[Event]) -> None:
        self.calls.append((list(events), context.request_id.get()))
        self.events.extend(events)

    def for_job(self, job_id: str) -> list[Event]:
        return [e for e in self.events if e.job_id == job_id]
