"""Builders and checks shared by the contract tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from broker.entities.job import Event, Job, JobState
from broker.entities.lease import Failure, LeaseRef
from broker.entities.retry import Jitter, RetryPolicy
from broker.usecases.nack import decider
from broker.usecases.ports import JobStore, NewJob

# No jitter: the retry times are exact, so both stores can be held to the same values.
POLICY = RetryPolicy(initial_delay=2.0, max_delay=60.0, multiplier=3.0, jitter=Jitter.NONE)


# For what only a real database can show (several sessions racing).
postgres_only = pytest.mark.parametrize("store", ["postgres"], indirect=True)


def new_job(queue: str, run_at: datetime, **fields) -> NewJob:
    values = dict(queue=queue, kind="email", payload=b"payload", headers={}, idempotency_key=None,
                  priority=0, run_at=run_at, max_attempts=3, retry=POLICY, lease_duration=30.0)
    values.update(fields)
    return NewJob(**values)


def seconds(t: datetime, s: float) -> datetime:
    return t + timedelta(seconds=s)


async def add(store: JobStore, queue: str, now: datetime, count: int = 1, **fields) -> list[str]:
    """Enqueue `count` jobs ready at `now`; their ids."""
    fields.setdefault("run_at", now)
    inserted, _ = await store.enqueue([new_job(queue, **fields) for _ in range(count)], now)
    assert all(i.created for i in inserted)
    return [i.job_id for i in inserted]


async def lease(store: JobStore, queue: str, now: datetime, count: int = 1, worker: str = "w1",
                lease_duration: float | None = None) -> list[Job]:
    """Claim exactly `count` jobs of `queue`; returned as stored (claim leaves out a few times)."""
    jobs, _ = await store.claim([queue], worker, count, lease_duration, now)
    assert len(jobs) == count
    return [await store.get(job.id) for job in jobs]


async def running(store: JobStore, queue: str, now: datetime, **fields) -> Job:
    """One job of its own, enqueued and leased at `now`."""
    await add(store, queue, now, **fields)
    (job,) = await lease(store, queue, now)
    return job


async def leased(store: JobStore, queue: str, now: datetime, count: int, **fields) -> list[Job]:
    """`count` jobs of their own, enqueued and leased at `now`."""
    await add(store, queue, now, count=count, **fields)
    return await lease(store, queue, now, count=count)


async def in_state(store: JobStore, queue: str, t0: datetime, state: JobState, lease_duration: float = 30.0) -> Job:
    """A job of its own in `state` that still carries the token of its one lease (nack and cancel
    keep it), so only the state can keep a lease call from moving it."""
    job = await running(store, queue, t0, lease_duration=lease_duration)
    if state is JobState.PENDING:  # a retry, ready at once
        await store.fail([(ref(job), Failure("once", retry_after=0.0))], t0, decide(t0))
    elif state is JobState.SUCCEEDED:
        await store.complete([ref(job)], t0)
    elif state is JobState.DEAD:
        await store.fail([(ref(job), Failure("fatal", permanent=True))], t0, decide(t0))
    elif state is JobState.CANCELLED:
        await store.cancel(job.id, t0)
    job = await store.get(job.id)
    assert job.state is state
    return job


def ref(job: Job, token: str | None = None) -> LeaseRef:
    return LeaseRef(job.id, token or job.lease_token)


def decide(now: datetime):
    """What the use cases pass as `decide` (jitter-free policies make it deterministic)."""
    return decider(now, None)


def trail(events: list[Event]) -> list[tuple]:
    """What an event says, without the store's id and the job kind (the log keeps no kind)."""
    return [(e.job_id, e.from_state, e.to_state, e.reason, e.attempt, e.worker_id, e.error, e.at)
            for e in events]


def plain(event: Event) -> Event:
    """What the event log keeps: no row id, kind or timings (those travel with the change)."""
    return replace(event, id=0, kind="", waited=None, ran=None)
