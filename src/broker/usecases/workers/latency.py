"""Pickup and run times: counted per queue, minute and bucket in this replica (an EventSink),
added to the shared counts by the flush, and read back as percentiles for the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from broker.entities.errors import InvalidArgument
from broker.entities.job import Event, Reason
from broker.entities.latency import PICKUP, RUN, LatencyCount, MinuteLatency, bucket_of, summarise
from broker.entities.queue import Limits
from broker.usecases.ports import Clock
from broker.usecases.workers.ports import ObservationStore

MIN_MINUTES, MAX_MINUTES = 15, 24 * 60
# The store's timings: a lease's wait since the job was ready, an ack's or nack's run since its lease.
_KIND = {Reason.LEASE: PICKUP, Reason.ACK: RUN, Reason.NACK: RUN}


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class LatencyRecorder:
    """EventSink: each lease's pickup time and each ack's or nack's run time, counted by its
    bucket (entities/latency.py) in the minute of the change."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, datetime, str, float], int] = {}

    def record(self, events: Sequence[Event]) -> None:
        # On every Lease, Ack and Nack: the events of one call share their time, so its minute
        # is worked out once per call, not per event.
        counts, at, minute = self._counts, None, None
        for e in events:
            kind = _KIND.get(e.reason)
            seconds = None if kind is None else (e.waited if kind == PICKUP else e.ran)
            if seconds is not None:
                if e.at is not at:
                    at, minute = e.at, minute_of(e.at)
                key = (e.queue, minute, kind, bucket_of(seconds))
                counts[key] = counts.get(key, 0) + 1

    def take(self, now: datetime) -> list[LatencyCount]:
        """The counts since the last take (none older than the longest window read)."""
        taken, self._counts = self._counts, {}
        oldest = minute_of(now) - timedelta(minutes=MAX_MINUTES)
        return [LatencyCount(q, m, k, le, n) for (q, m, k, le), n in taken.items() if m >= oldest]

    def put_back(self, counts: Sequence[LatencyCount]) -> None:
        """A flush that failed: its counts go with the next one."""
        for c in counts:
            key = (c.queue, c.minute, c.kind, c.le)
            self._counts[key] = self._counts.get(key, 0) + c.count


class ReadLatency:
    """Per queue and minute of the last `minutes` (15 to 1,440): pickup and run-time counts and
    percentiles, summed over replicas. Without a store: none."""

    def __init__(self, store: ObservationStore | None, clock: Clock, limits: Limits) -> None:
        self._store, self._clock, self._limits = store, clock, limits

    async def __call__(self, queues: Sequence[str] = (), minutes: int = 60) -> list[MinuteLatency]:
        for i, queue in enumerate(queues):
            self._limits.check_queue_name(queue, f"queue[{i}]" if len(queues) > 1 else "queue")
        if not MIN_MINUTES <= minutes <= MAX_MINUTES:
            raise InvalidArgument("minutes", f"{minutes} is outside {MIN_MINUTES} to {MAX_MINUTES}")
        if self._store is None:
            return []
        since = minute_of(self._clock.now()) - timedelta(minutes=minutes - 1)
        return summarise(await self._store.latency(list(queues), since))
