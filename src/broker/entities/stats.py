"""What operators see of a queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from broker.entities.queue_state import QueueControls


@dataclass(frozen=True, slots=True)
class WindowCounts:
    enqueued: int = 0
    succeeded: int = 0
    failed: int = 0  # failed attempts: nacks and lapsed leases, retried or not
    dead_lettered: int = 0

    @property
    def failure_rate(self) -> float:
        total = self.succeeded + self.failed
        return self.failed / total if total else 0.0


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    ready: int = 0
    scheduled: int = 0
    retrying: int = 0
    running: int = 0
    succeeded: int = 0
    dead: int = 0
    cancelled: int = 0
    oldest_ready_age: float = 0.0  # seconds
    last_minute: WindowCounts = field(default_factory=WindowCounts)
    last_hour: WindowCounts = field(default_factory=WindowCounts)
    controls: QueueControls | None = None  # the queue's flow controls, where the reader adds them
    breaker: str | None = None  # its circuit breaker's state (entities.breaker.BreakerState); None: none


@dataclass(frozen=True, slots=True)
class WorkerLeases:
    """Who holds leases (for the dashboard)."""

    worker_id: str
    queue: str
    leases: int
    last_heartbeat: object = None  # datetime of the newest lease extension


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """What happened to one queue's jobs in one minute (for throughput and failure-rate charts)."""

    queue: str
    minute: datetime  # the start of the minute
    counts: WindowCounts
