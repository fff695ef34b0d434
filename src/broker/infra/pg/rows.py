"""Rows of broker_jobs and broker_events as entities."""

from __future__ import annotations

import functools
import json
from datetime import datetime

from broker.entities.job import AttemptError, Event, Job, JobState, Reason
from broker.entities.retry import Jitter, RetryPolicy

_STATES = {s.value: s for s in JobState}
_REASONS = {r.value: r for r in Reason}
_JITTERS = {j.value: j for j in Jitter}


def state(value: str | None) -> JobState | None:
    return _STATES[value] if value else None


@functools.lru_cache(maxsize=1024)
def _policy(initial: float, maximum: float, multiplier: float, jitter: str) -> RetryPolicy:
    """Most jobs share a few policies: build (and validate) each once."""
    return RetryPolicy(initial, maximum, multiplier, _JITTERS[jitter])


def job(row) -> Job:
    return Job(
        id=row[0], queue=row[1], kind=row[2], payload=row[3],
        headers=json.loads(row[4]) if row[4] else {}, idempotency_key=row[5], priority=row[6],
        state=_STATES[row[7]], run_at=row[8], attempt=row[9], max_attempts=row[10],
        retry=_policy(row[11], row[12], row[13], row[14]), lease_duration=row[15],
        lease_token=row[16], lease_expires_at=row[17], worker_id=row[18],
        errors=tuple(_attempt_error(e) for e in json.loads(row[19])) if row[19] != "[]" else (),
        created_at=row[20], updated_at=row[21], finished_at=row[22],
        lease_expiries=row[23], max_lease_expiries=row[24],
    )


def _attempt_error(item: dict) -> AttemptError:
    return AttemptError(item["attempt"], item["error"], datetime.fromisoformat(item["at"]))


def event(row) -> Event:
    return Event(
        id=row[0], job_id=row[1], queue=row[2], from_state=state(row[3]), to_state=_STATES[row[4]],
        reason=_REASONS[row[5]], attempt=row[6], worker_id=row[7], error=row[8], at=row[9],
    )


def seconds_since(then: datetime | None, now: datetime) -> float | None:
    """Seconds from `then` to `now`, never negative; None when `then` is unknown."""
    return max(0.0, (now - then).total_seconds()) if then is not None else None


def lease_events(jobs: list[Job], now: datetime) -> list[Event]:
    """A leased job's run_at is when it became ready, so it waited from then until now."""
    return [Event(j.id, j.queue, JobState.PENDING, JobState.RUNNING, Reason.LEASE, j.attempt, now,
                  kind=j.kind, worker_id=j.worker_id, waited=seconds_since(j.run_at, now)) for j in jobs]
