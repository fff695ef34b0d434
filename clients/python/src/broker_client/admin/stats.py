"""What the admin clients' ``stats`` returns: per-queue counts, ages and rates, as frozen values.
Ages are seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .queues import QueueControls


@dataclass(frozen=True)
class WindowCounts:
    """What happened on a queue over a window (the last minute, the last hour). ``failed``
    counts failed attempts (nacks and lapsed leases), retried or not; ``failure_rate`` is
    failed / (succeeded + failed), 0 when both are 0."""

    enqueued: int = 0
    succeeded: int = 0
    failed: int = 0
    dead_lettered: int = 0
    failure_rate: float = 0.0


@dataclass(frozen=True)
class QueueStats:
    """One queue's jobs by state, its oldest ready job's age (seconds, 0 when none is ready) and
    its counts over the last minute and hour. ``ready``, ``scheduled`` (a future run_at, never
    attempted) and ``retrying`` (a future run_at after a failed attempt) split PENDING."""

    queue: str
    ready: int = 0
    scheduled: int = 0
    retrying: int = 0
    running: int = 0
    succeeded: int = 0
    dead: int = 0
    cancelled: int = 0
    oldest_ready_age: float = 0.0
    last_minute: WindowCounts = field(default_factory=WindowCounts)
    last_hour: WindowCounts = field(default_factory=WindowCounts)
    # The queue's flow controls (``running`` is the concurrency its limits count); None from a
    # broker too old to send them.
    controls: QueueControls | None = None
    breaker: str | None = None  # its circuit breaker: closed, open or half_open; None without one


@dataclass(frozen=True)
class StatsReport:
    """The Stats RPC's answer: one ``QueueStats`` per queue, and when the broker computed them."""

    queues: tuple[QueueStats, ...]
    at: datetime | None = None

    def get(self, queue: str) -> QueueStats | None:
        """The stats of ``queue``, or None when the report has none for it."""
        return next((q for q in self.queues if q.queue == queue), None)
