"""Leases, the fencing rule and what a failed attempt leads to."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.entities.job import MOVES, JobState, Reason
from broker.entities.queue import MAX_RETRY_DELAY
from broker.entities.retry import RetryPolicy
from broker.entities.values import value_object


@value_object
class LeaseRef:
    """A worker's claim on a job: the job and the fencing token it was leased with."""

    job_id: str
    lease_token: str


class Outcome(enum.Enum):
    OK = "ok"
    LOST = "lost"
    NOT_FOUND = "not_found"


@value_object
class LeaseResult:
    job_id: str
    outcome: Outcome
    state: JobState | None = None
    at: datetime | None = None  # heartbeat: the new deadline; nack: the retry's run_at


@value_object
class Snapshot:
    """What a store knows of a job when a lease call could not change it."""

    state: JobState
    lease_token: str | None
    run_at: datetime | None = None
    lease_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Fence:
    """How a call that presents a lease token is fenced: it may change the job only while the job
    is in one of `held` under that very token; unchanged, it is a repeat that already succeeded
    when the job holds the same token in one of `done`, and lost in every other case."""

    held: tuple[JobState, ...]
    done: tuple[JobState, ...]


def fence(reason: Reason | None) -> Fence:
    """The fence of a lease call: Ack and Nack (their move's reason) hold the states their move
    leaves and find it done in the states it leads to; Heartbeat (None) moves nothing, holds the
    states Lease leads to and is never a repeat."""
    if reason is None:
        return Fence(MOVES[Reason.LEASE].targets, ())
    move = MOVES[reason]
    return Fence(move.sources, move.targets)


def holds(held: tuple[JobState, ...], state: JobState, token: str | None, presented: str) -> bool:
    """The fencing rule: the call holds the lease iff the job is in one of `held` (RUNNING) and its
    token is the presented one. PgJobStore's statements guard with the same rule, rendered into
    their SQL from the same states (infra/pg/sql.py `_held`)."""
    return state in held and token == presented


def classify(ref: LeaseRef, changed: bool, snapshot: Snapshot | None, done_states: tuple[JobState, ...],
             at: datetime | None = None) -> LeaseResult:
    """Classify one lease call, the one place that tells a repeat from a lost lease.

    `changed`: the store carried out the change (the job was held under this token, `holds`).
    Otherwise the call is a repeat that already succeeded when the job holds the same token
    in one of `done_states` (its fence's `done`: what this call leads to), and lost in every
    other case: the token is stale, the lease lapsed (the reaper clears the token) or the job was
    cancelled.
    """
    if changed:
        return LeaseResult(ref.job_id, Outcome.OK, snapshot.state if snapshot else None, at)
    if snapshot is None:
        return LeaseResult(ref.job_id, Outcome.NOT_FOUND)
    if snapshot.lease_token == ref.lease_token and snapshot.state in done_states:
        repeat_at = snapshot.run_at if snapshot.state is JobState.PENDING else None
        return LeaseResult(ref.job_id, Outcome.OK, snapshot.state, repeat_at)
    return LeaseResult(ref.job_id, Outcome.LOST, snapshot.state)


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt as reported (Nack) or observed (lease lapsed)."""

    error: str
    permanent: bool = False
    retry_after: float | None = None
    lease_expired: bool = False  # observed by the reaper: counts toward max_lease_expiries


@dataclass(frozen=True, slots=True)
class FailureDecision:
    to_state: JobState
    run_at: datetime | None  # for a retry
    error: str | None = None  # what the attempt's error becomes, when the decision explains itself


def decide_failure(attempt: int, max_attempts: int, policy: RetryPolicy, failure: Failure,
                   now: datetime, rng: random.Random | None = None, *, lease_expiries: int = 0,
                   max_lease_expiries: int | None = None) -> FailureDecision:
    """After failed attempt `attempt`: a retry after the backoff, or the dead letter queue.

    A poison job, one whose leases keep lapsing (it crashes or hangs every worker that takes it),
    goes DEAD once its lapsed leases reach `max_lease_expiries` (None: no such limit), attempts
    left or not, so it does not kill workers through every ordinary retry. `lease_expiries`
    counts the lapses before this failure; a nack never counts."""
    if failure.permanent:
        return FailureDecision(JobState.DEAD, None)
    if failure.lease_expired and max_lease_expiries is not None:
        lapses = lease_expiries + 1
        if lapses >= max_lease_expiries:
            return FailureDecision(JobState.DEAD, None, poison_error(lapses, max_lease_expiries))
    if attempt >= max_attempts:
        return FailureDecision(JobState.DEAD, None)
    if failure.retry_after is not None:
        delay = failure.retry_after
    else:
        delay = policy.delay(attempt, rng)
    return FailureDecision(JobState.PENDING, now + timedelta(seconds=min(delay, MAX_RETRY_DELAY)))


def poison_error(lapses: int, max_lease_expiries: int) -> str:
    """The error of the attempt that made a job a poison job (its history keeps it)."""
    return f"lease expired {lapses} times (max_lease_expiries {max_lease_expiries}): poison job"


# How the reaper describes an attempt whose lease lapsed.
LEASE_EXPIRED = Failure("lease expired", lease_expired=True)
