"""The job, its states, and the one table of legal state changes (MOVES)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

from broker.entities.errors import IllegalTransition, InvalidArgument
from broker.entities.progress import Progress
from broker.entities.queue import QueueDefaults
from broker.entities.payload import PayloadRef
from broker.entities.retry import RetryPolicy
from broker.entities.values import value_object

_DEFAULTS = QueueDefaults()
_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class JobState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED)

    def __str__(self) -> str:
        return self.value.upper()


class Reason(enum.Enum):
    """What caused a state change; recorded with every event."""

    ENQUEUE = "enqueue"
    LEASE = "lease"
    ACK = "ack"
    NACK = "nack"
    SNOOZE = "snooze"  # the worker handed the job back for later; no attempt used
    RELEASE = "release"  # leased for a Lease call that was gone before it got the job; no attempt used
    EXPIRE = "expire"
    REDRIVE = "redrive"
    CANCEL = "cancel"
    PROGRESS = "progress"  # the worker reported new progress; the job stays RUNNING
    RETRY_NOW = "retry_now"  # an operator made a delayed job or a waiting retry ready at once


P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)


@dataclass(frozen=True, slots=True)
class Move:
    """One legal change of state: what causes it, the states it leaves (none: a new job) and the
    states it may lead to. Both stores carry it out as written here: the PostgreSQL statements
    guard on `sources` and write `reason` into the event log (infra/pg/sql.py renders them from
    this table at import), the in-memory store checks every change against it."""

    reason: Reason
    sources: tuple[JobState, ...]
    targets: tuple[JobState, ...]


# The one table of legal state changes, by what causes them. Read it at the time of use (as the
# stores do), never copy a move's states elsewhere.
MOVES: dict[Reason, Move] = {m.reason: m for m in (
    Move(Reason.ENQUEUE, (), (P,)),
    Move(Reason.LEASE, (P,), (R,)),
    Move(Reason.ACK, (R,), (S,)),
    Move(Reason.NACK, (R,), (P, D)),
    # The lease's attempt is given back (attempt - 1), as River does since 0.16; Oban bumps
    # max_attempts instead, which makes the job's limit drift. `snoozes` counts them.
    Move(Reason.SNOOZE, (R,), (P,)),
    # A coalesced claim (usecases/claim_coalesce.py) leased the job for a call that was cancelled
    # or past its deadline meanwhile: back to PENDING at once, its place in line and attempt kept.
    Move(Reason.RELEASE, (R,), (P,)),
    Move(Reason.EXPIRE, (R,), (P, D)),
    Move(Reason.REDRIVE, (D,), (P,)),
    Move(Reason.CANCEL, (P, R), (C,)),
    # Not a change of state but an event of the log all the same, written only when the
    # reported progress differs from the job's (at most one per heartbeat).
    Move(Reason.PROGRESS, (R,), (R,)),
    # An operator's "retry now": a PENDING job whose run_at is still to come (scheduled, or a
    # retry waiting out its backoff) becomes ready at once; its attempts stay as they are.
    Move(Reason.RETRY_NOW, (P,), (P,)),
)}


def is_legal(from_state: JobState | None, to_state: JobState, reason: Reason) -> bool:
    """Whether `reason` may move a job from `from_state` (None: no job yet) to `to_state`."""
    move = MOVES.get(reason)
    if move is None or to_state not in move.targets:
        return False
    return from_state in move.sources if from_state is not None else not move.sources


def check_transition(job_id: str, from_state: JobState | None, to_state: JobState,
                     reason: Reason) -> None:
    """Raise IllegalTransition unless `reason` may move a job from `from_state` to `to_state`."""
    if not is_legal(from_state, to_state, reason):
        raise IllegalTransition(job_id, from_state, to_state)


@value_object
class AttemptError:
    attempt: int
    error: str
    at: datetime


@value_object
class Job:
    """A job as the broker holds it."""

    id: str
    queue: str
    kind: str
    payload: bytes
    state: JobState
    run_at: datetime
    priority: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    attempt: int = 0
    max_attempts: int = _DEFAULTS.max_attempts  # the queue defaults' (a store gives each job its own)
    retry: RetryPolicy = _DEFAULTS.retry
    lease_duration: float = _DEFAULTS.lease_duration
    lease_token: str | None = None
    lease_expires_at: datetime | None = None
    worker_id: str | None = None
    errors: tuple[AttemptError, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    lease_expiries: int = 0  # leases that lapsed (apart from nacks); a redrive with reset clears it
    max_lease_expiries: int | None = None  # DEAD when lease_expiries reaches it; None: no such limit
    result: bytes | None = None  # what the Ack carried (SUCCEEDED jobs only); None: no result
    concurrency_key: str | None = None  # the queue's per_key_concurrency limits its RUNNING jobs
    snoozes: int = 0  # times a worker snoozed it (each gave its attempt back)
    progress: Progress | None = None  # the current attempt's last reported progress (with its time)
    payload_ref: PayloadRef | None = None  # the payload as an object in storage (payload then empty)

    @property
    def last_error(self) -> str | None:
        return self.errors[-1].error if self.errors else None


@value_object
class Event:
    """One state change of a job, as the event log keeps it."""

    job_id: str
    queue: str
    from_state: JobState | None
    to_state: JobState
    reason: Reason
    attempt: int
    at: datetime
    kind: str = ""
    worker_id: str | None = None
    error: str | None = None
    id: int = 0
    # Timings for metrics, when the store knows them (seconds): on a lease, how long the job
    # waited since it became ready; on ack, nack or expiry, how long the attempt ran.
    waited: float | None = None
    ran: float | None = None
    progress: Progress | None = None  # reason PROGRESS: what was reported


def check_storable(value: str, field_name: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL characters: names, keys and tokens with one are
    refused as invalid rather than failing in the database."""
    if "\x00" in value:
        raise InvalidArgument(field_name, "must not contain NUL characters")
    return value


def storable(text: str) -> str:
    """Free text (a worker's error message) made storable: NUL characters become U+FFFD."""
    return text.replace("\x00", "\ufffd")


def check_job_id(job_id: str, field_name: str) -> str:
    """Job ids are UUIDs; anything else is a malformed request rather than an unknown job."""
    if not _UUID.fullmatch(job_id):
        raise InvalidArgument(field_name, f"{job_id[:60]!r} is not a job id (a UUID)")
    return job_id.lower()
