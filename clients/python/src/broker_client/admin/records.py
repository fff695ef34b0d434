"""What the admin clients return about jobs: jobs, their events, pages of jobs, redrives, as
frozen values (queue statistics: stats.py). Timestamps are timezone-aware UTC datetimes (None
when the broker left them unset), durations are seconds, and text the broker leaves empty is
``""``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from ..jobs import RetryPolicy


class JobState(str, Enum):
    """Where a job is in its life (see the README's lifecycle); the value is the lower-case name."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the states a job does not leave by itself (and that can be purged)."""
        return self in (JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED)


@dataclass(frozen=True)
class AttemptError:
    """One failed attempt: its number, what the worker reported (or "lease expired"), and when."""

    attempt: int
    error: str
    at: datetime | None = None


@dataclass(frozen=True)
class Job:
    """A job as the broker holds it. ``attempt`` counts the attempts started so far;
    ``worker_id`` and ``lease_expires_at`` are set while it is RUNNING; ``errors`` holds one
    entry per failed attempt, oldest first. ``lease_expiries`` counts the attempts whose lease
    lapsed; at ``max_lease_expiries`` (0: no such budget) the job goes DEAD as a poison job."""

    id: str
    queue: str
    kind: str
    state: JobState
    payload: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    priority: int = 0
    attempt: int = 0
    max_attempts: int = 0
    lease_expiries: int = 0
    max_lease_expiries: int = 0
    run_at: datetime | None = None
    retry_policy: RetryPolicy | None = None
    lease_duration: float | None = None
    worker_id: str = ""
    lease_expires_at: datetime | None = None
    last_error: str = ""
    errors: tuple[AttemptError, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    # What the worker's Ack carried (a SUCCEEDED job's handler's return value); None: none.
    result: bytes | None = None
    # The job's concurrency key (the queue's per_key_concurrency limits its RUNNING jobs); "": none.
    concurrency_key: str = ""
    # Times workers snoozed it (each gave its attempt back, so ``attempt`` does not count them).
    snoozes: int = 0
    # The last progress the current (or last) attempt reported, and when; None: none.
    progress: Progress | None = None

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)

    def result_json(self) -> Any:
        """The result parsed as JSON (None when there is none)."""
        return None if self.result is None else json.loads(self.result)

    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode()


@dataclass(frozen=True)
class Progress:
    """How far an attempt has come, as its worker reported it (``JobContext.progress``)."""

    fraction: float
    message: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class JobEvent:
    """One state change of a job. ``from_state`` is None for the enqueue; ``reason`` says what
    caused it (enqueue, lease, ack, nack, snooze, expire, redrive, cancel, retry_now: an
    operator made a waiting job ready at once, and progress: the worker's reported progress
    changed, with ``progress``; the job stays RUNNING)."""

    id: int
    job_id: str
    from_state: JobState | None
    to_state: JobState
    reason: str
    attempt: int = 0
    worker_id: str = ""
    error: str = ""
    at: datetime | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class JobHistory:
    """A job with its event history, oldest event first (``AdminClient.get_job``)."""

    job: Job
    events: tuple[JobEvent, ...] = ()


@dataclass(frozen=True)
class JobPage:
    """One page of ``AdminClient.list_jobs``, newest job first. Pass ``next_page_token`` to the
    next call for the following page; it is ``""`` when there are no more."""

    jobs: tuple[Job, ...]
    next_page_token: str = ""


@dataclass(frozen=True)
class RedriveResult:
    """How many DEAD jobs went back to PENDING, and their ids."""

    redriven: int
    job_ids: tuple[str, ...] = ()
