"""Fakes for the use-case ports: clocks tests move by hand (one standing still, one the system's
time plus an offset), a notifier and an event sink that record what they were told, and (in
memory_store) a JobStore that keeps everything in memory.

The in-memory store is checked against the PostgreSQL one by tests/contract, so it cannot drift.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

from broker.entities.job import Event
from broker.infra.pg.listen import LocalNotifier
from broker.usecases import context
from tests.fakes.memory_store import InMemoryJobStore

__all__ = ["InMemoryJobStore", "ManualClock", "RecordingEventSink", "RecordingNotifier", "ShiftedClock"]

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


class ShiftedClock:
    """The system time plus an offset that tests advance, so nobody sleeps through a backoff
    (the clock of the in-process broker in tests/conftest.py)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class RecordingNotifier:
    """Records notifications and waits; the waking itself is the real LocalNotifier's (one
    waiting call per queue, the longest waiting; tests/unit/test_notifier.py runs the same
    checks on both).

    With a clock, a wait that nobody ends by notifying one of its queues (while the waiter yields
    to the loop once) moves the clock by its timeout and returns: simulated time, no sleeping.
    Without a clock, a wait lasts until a notification wakes it or `close` is called, whatever
    its timeout: a test decides when it ends.
    """

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.notified: list[list[str]] = []
        self.waits: list[tuple[tuple[str, ...], float]] = []
        self._clock = clock
        self._real = LocalNotifier()
        self._waiting = 0

    @property
    def closed(self) -> bool:
        return self._real.closed

    @property
    def waiting(self) -> int:
        """How many waits are in progress."""
        return self._waiting

    def notify(self, queues: Sequence[str]) -> None:
        self.notified.append(list(queues))
        self._real.notify(queues)

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        self.waits.append((tuple(queues), timeout))
        self._waiting += 1
        try:
            if self._clock is None:
                await self._real.wait(queues, None)
            elif not await self._real.wait(queues, 0):  # 0: gives the loop one turn
                self._clock.advance(timeout)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._real.close()


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
