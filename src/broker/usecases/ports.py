"""The ports the interactors need. Adapters live in broker.infra (PostgreSQL, clocks, notifier,
logging and metrics); tests use the in-memory fakes in tests/fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from broker.entities.auth import ApiKey
from broker.entities.job import Event, Job, JobState
from broker.entities.job_view import JobFilter
from broker.entities.payload import PayloadRef
from broker.entities.lease import Failure, FailureDecision, LeaseRef, Snapshot
from broker.entities.progress import Progress
from broker.entities.retry import RetryPolicy
from broker.entities.stats import MinuteCounts, QueueStats, WorkerLeases
from broker.entities.values import value_object


@value_object
class NewJob:
    """A validated job to insert, every default resolved."""

    queue: str
    kind: str
    payload: bytes
    headers: dict[str, str]
    idempotency_key: str | None
    priority: int
    run_at: datetime
    max_attempts: int
    retry: RetryPolicy
    lease_duration: float
    max_lease_expiries: int | None = None  # None: no limit of its own (attempts alone)
    payload_ref: PayloadRef | None = None  # the payload as an object in storage (payload then empty)
    concurrency_key: str | None = None  # None: none (the queue's per-key limit does not apply)


@value_object
class Inserted:
    job_id: str
    created: bool


@value_object
class Taker:
    """One caller of a claim made for several at once: who the jobs are leased to, how many at
    most, for how long (None: each job's own lease duration)."""

    worker_id: str
    limit: int
    lease_duration: float | None = None


@value_object
class LeaseCall:
    """What a store did with one lease reference: changed it, or what it found instead."""

    ref: LeaseRef
    changed: bool
    snapshot: Snapshot | None
    at: datetime | None = None


# Given a running job and how its attempt failed: where it goes next.
Decider = Callable[[Job, Failure], FailureDecision]


class JobStore(Protocol):
    """Durable home of jobs and their event log. Every change is atomic, guarded by the state
    (and lease token) it expects, and writes one event per transition in the same transaction."""

    async def enqueue(self, jobs: Sequence[NewJob], now: datetime) -> tuple[list[Inserted], list[Event]]:
        """Insert jobs; a job whose idempotency key its queue already holds is not inserted."""

    async def claim(self, queues: Sequence[str], worker_id: str, limit: int,
                    lease_duration: float | None, now: datetime) -> tuple[list[Job], list[Event]]:
        """Lease up to `limit` ready jobs: lowest priority, then oldest run_at; never one job twice.
        The jobs come without created_at, updated_at and finished_at (a worker has no use for them)."""

    async def claim_for(self, queues: Sequence[str], takers: Sequence[Taker],
                        now: datetime) -> tuple[list[Job], list[Event]]:
        """As claim, for several callers at once: up to the sum of their limits, in one claim. The
        jobs come in the order claim would return them for that sum, and each is leased to one
        slot (takers[0].limit slots for the first taker, then the next taker's...): the n-th job's
        worker_id and lease duration are its slot's taker's, in its row and its LEASE event."""

    async def release(self, refs: Sequence[LeaseRef], now: datetime) -> list[Event]:
        """RUNNING -> PENDING at once for the leases still held under these tokens (jobs leased for
        a caller that was gone before it got them), the attempt given back, run_at kept."""

    async def extend(self, refs: Sequence[LeaseRef], lease_duration: float | None,
                     now: datetime) -> list[LeaseCall]:
        """Push the deadline of leases still held under these tokens."""

    async def extend_with_progress(self, refs: Sequence[LeaseRef], progress: Sequence[Progress | None],
                                   lease_duration: float | None,
                                   now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        """As extend, and keep each ref's progress (one per ref, None for none) with its job; a
        PROGRESS event for each job whose progress changed (a ref naming a job twice: its first
        naming with progress)."""

    async def snooze(self, items: Sequence[tuple[LeaseRef, datetime]],
                     now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        """RUNNING -> PENDING at each item's run_at for leases still held, the lease's attempt
        given back and `snoozes` counted; the token stays, so a repeat changes nothing."""

    async def complete(self, refs: Sequence[LeaseRef], now: datetime,
                       results: Sequence[bytes | None] | None = None) -> tuple[list[LeaseCall], list[Event]]:
        """RUNNING -> SUCCEEDED for leases still held, each keeping its result (`results`, one
        per ref, None for none; a repeat with the same token changes nothing, the first result
        stays)."""

    async def fail(self, items: Sequence[tuple[LeaseRef, Failure]], now: datetime,
                   decide: Decider) -> tuple[list[LeaseCall], list[Event]]:
        """RUNNING -> PENDING or DEAD, as `decide` says, for leases still held."""

    async def rescue_expired(self, now: datetime, limit: int, decide: Decider) -> list[Event]:
        """Fail the attempts whose lease deadline passed, as `decide` says; clears their tokens."""

    async def get(self, job_id: str) -> Job | None: ...

    async def history(self, job_id: str) -> list[Event]: ...

    async def get_with_history(self, job_id: str) -> tuple[Job | None, list[Event]]:
        """The job (None if unknown) and its events, oldest first, as of one moment."""

    async def list_jobs(self, where: JobFilter, limit: int, after: tuple[datetime, str] | None,
                        now: datetime) -> list[Job]:
        """The jobs `where` matches (its views judged at `now`), newest first (created_at, id),
        strictly after the `after` cursor."""

    async def count_jobs(self, where: JobFilter, cap: int, now: datetime) -> int:
        """How many jobs `where` matches (its views judged at `now`), counted up to `cap` at most."""

    async def stats(self, queues: Sequence[str], now: datetime) -> list[QueueStats]: ...

    async def workers(self, now: datetime) -> list[WorkerLeases]: ...

    async def throughput(self, queues: Sequence[str], since: datetime, now: datetime) -> list[MinuteCounts]:
        """Events after `since` up to `now`, counted per queue and minute, oldest minute first."""

    async def redrive(self, job_ids: Sequence[str], queue: str | None, reset_attempts: bool,
                      now: datetime) -> tuple[list[str], list[Event]]:
        """DEAD -> PENDING (run_at now) for the given ids, or every dead job of `queue`."""

    async def cancel(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        """PENDING or RUNNING -> CANCELLED. Returns the job as it is after the call (None if unknown)
        and the event (none when the job was not cancellable)."""

    async def retry_now(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        """A PENDING job whose run_at is after `now` becomes ready at `now` (the RETRY_NOW move).
        Returns the job as it is after the call (None if unknown) and the event (none when the
        job was not PENDING with a run_at to come)."""

    async def purge(self, job_ids: Sequence[str], queue: str | None, state: JobState) -> int:
        """Delete finished jobs in `state`, by ids or whole queue, with their events."""

    async def prune(self, finished_before: datetime, limit: int) -> int:
        """Delete at most `limit` SUCCEEDED and CANCELLED jobs finished before the cut-off, oldest
        first. Their events go with them, or with the part of the history they are in (below)."""

    async def rotate_history(self, now: datetime, drop_before: datetime, width: float) -> int:
        """Keep the event log in parts of `width` seconds: make those for `now` and after, and
        drop the parts wholly before `drop_before`, the events of jobs still there kept. Returns
        how many parts were dropped."""

    async def compact(self) -> list[str]:
        """Reclaim the space of deleted and replaced rows where enough has gathered; returns
        which tables were compacted."""

    async def ping(self) -> None:
        """Raise Unavailable when the database cannot be reached."""


class KeyStore(Protocol):
    """Where API keys live: their hashes and roles, never the tokens."""

    async def add(self, key: ApiKey) -> None: ...

    async def find(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not; None when there is none."""

    async def ids(self) -> set[str]:
        """The id of every key, revoked or not."""

    async def list_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""

    async def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        """Mark the key revoked (a repeat keeps the first time); None when there is none."""


class Clock(Protocol):
    """The time. Tests move it instead of sleeping."""

    def now(self) -> datetime: ...


class Notifier(Protocol):
    """Wakes long-polling leases when work may have arrived."""

    def notify(self, queues: Sequence[str]) -> None:
        """Work may have arrived: wake at least one waiting call of each queue (a woken Lease
        that took a full batch notifies again, for the next)."""

    async def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Return when one of `queues` was notified, the timeout passed, or the notifier closed."""

    @property
    def closed(self) -> bool: ...


class EventSink(Protocol):
    """Told of every state change after it committed: logs it, counts it. The call that made
    the changes, if any, is in broker.usecases.context (its request id)."""

    def record(self, events: Sequence[Event]) -> None: ...


class OutcomeSink(Protocol):
    """Told of the committed changes that end attempts (Ack, Nack, the reaper), awaited after
    the EventSink: the queues' circuit breakers count them (usecases/queues/breakers.py)."""

    async def __call__(self, events: Sequence[Event]) -> None: ...
