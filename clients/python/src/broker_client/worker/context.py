"""What a handler receives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..v1 import job_service_pb2
from .progress import MAX_PROGRESS_CHARS, Progress, checked

__all__ = ["MAX_PROGRESS_CHARS", "JobContext"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class JobContext:
    """One attempt of one job, as the handler sees it.

    ``id`` and ``idempotency_key`` are stable across attempts: use them to make side effects
    idempotent (the broker delivers at least once). ``lease_deadline`` moves forward with
    every heartbeat. ``lost`` turns true when the worker no longer holds the lease (the job
    was redelivered or cancelled): a long sync handler may check it and stop early, its
    result will be dropped anyway.
    """

    id: str
    kind: str
    queue: str
    payload: bytes
    attempt: int = 1
    max_attempts: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    priority: int = 0
    lease_deadline: datetime | None = None
    worker_id: str = ""
    # Times the job was snoozed before this attempt (a snooze uses no attempt: bound them here).
    snoozes: int = 0
    # A plain flag (set by the event loop, read by handler threads: a bool write is atomic); an
    # Event per job cost 6% of the worker's CPU under load.
    _lost: bool = field(default=False, repr=False, compare=False)
    # The latest progress the handler reported, and the one the broker last took: a tuple is
    # swapped in whole (handler threads write it, the event loop reads it).
    _progress: Progress | None = field(default=None, repr=False, compare=False)
    _progress_sent: Progress | None = field(default=None, repr=False, compare=False)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the attempt has come: ``fraction`` from 0 to 1 and a short note (at
        most MAX_PROGRESS_CHARS characters). Sent with the next heartbeat (the latest report
        only); GetJob and the dashboard show it, and each change is an event of the job. Not
        reported from ``cpu_bound`` handlers (they run in another process)."""
        self._progress = checked(fraction, message)

    def unsent_progress(self) -> Progress | None:
        """The progress reported since the broker last took one (None: nothing new)."""
        progress = self._progress
        return progress if progress is not None and progress != self._progress_sent else None

    def progress_sent(self, progress: Progress) -> None:
        self._progress_sent = progress

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)

    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode()

    @property
    def lost(self) -> bool:
        """True once the lease is gone (redelivered, cancelled or the worker is aborting it)."""
        return self._lost

    @property
    def is_last_attempt(self) -> bool:
        """True when a failure now sends the job to the dead letter queue."""
        return self.max_attempts > 0 and self.attempt >= self.max_attempts

    def mark_lost(self) -> None:
        self._lost = True

    @classmethod
    def from_leased(cls, leased: job_service_pb2.LeasedJob, worker_id: str = "") -> JobContext:
        """The context for a job handed out by Lease."""
        job = leased.job
        stamp = leased.lease_expires_at
        deadline = (_EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)
                    if leased.HasField("lease_expires_at") else None)
        return cls(id=job.id, kind=job.kind, queue=job.queue, payload=bytes(job.payload),
                   attempt=leased.attempt or job.attempt, max_attempts=job.max_attempts,
                   headers=dict(job.headers) if job.headers else {}, idempotency_key=job.idempotency_key,
                   priority=job.priority, lease_deadline=deadline, worker_id=worker_id, snoozes=job.snoozes)
