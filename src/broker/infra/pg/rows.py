"""Rows of broker_jobs and broker_events as entities."""

from __future__ import annotations

import functools
import json
from datetime import datetime

from broker.entities.callback import CALLBACK_QUEUE
from broker.entities.job import AttemptError, Event, Job, JobState, Reason
from broker.entities.payload import PayloadRef
from broker.entities.progress import Progress
from broker.entities.retry import Jitter, RetryPolicy
from broker.entities.stats import QueueStats, WindowCounts

_STATES = {s.value: s for s in JobState}
_REASONS = {r.value: r for r in Reason}
_JITTERS = {j.value: j for j in Jitter}
_STATES_OR_NONE = {None: None, **_STATES}


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
        lease_expiries=row[23], max_lease_expiries=row[24], result=row[25], snoozes=row[26],
        # A lease clears only the fraction: the message and time without one are the last attempt's.
        progress=Progress(row[27], row[28] or "", row[29]) if row[27] is not None else None,
        payload_ref=payload_ref(row[30]) if row[30] else None,
        concurrency_key=row[31],
    )


def payload_ref(text: str) -> PayloadRef:
    """A reference as broker_jobs.payload_ref holds it: "<sha256> <size> <key>"."""
    sha256, size, key = text.split(" ", 2)
    return PayloadRef(key, int(size), sha256)


def payload_ref_text(ref: PayloadRef | None) -> str | None:
    return None if ref is None else f"{ref.sha256} {ref.size} {ref.key}"


def _attempt_error(item: dict) -> AttemptError:
    return AttemptError(item["attempt"], item["error"], datetime.fromisoformat(item["at"]))


def event(row) -> Event:
    return Event(
        id=row[0], job_id=row[1], queue=row[2], from_state=state(row[3]), to_state=_STATES[row[4]],
        reason=_REASONS[row[5]], attempt=row[6], worker_id=row[7], error=row[8], at=row[9],
        progress=Progress(row[10], row[11] or "", row[9]) if row[10] is not None else None,
    )


def events(found, now: datetime) -> list[Event]:
    """The events a statement wrote, from its rows: each begins with the job's id, queue and kind
    and ends with the event's columns (moves.EVENT_TAIL, in its order: from_state, to_state,
    reason, attempt, worker_id, error, waited, ran), NULL where the row moved nothing. One event per job, as the
    statement wrote it, even when a call named the same lease twice."""
    moved, states, reasons = {}, _STATES_OR_NONE, _REASONS
    for r in found:
        reason = r[-6]  # EVENT_TAIL's columns by position from the end: this runs once per job
        if reason is not None:
            moved[r[0]] = Event(r[0], r[1], states[r[-8]], states[r[-7]], reasons[reason], r[-5], now,
                                kind=r[2], worker_id=r[-4], error=r[-3], waited=r[-2], ran=r[-1])
    return list(moved.values())


def stats(states, windows) -> list[QueueStats]:
    counts: dict[str, dict] = {}
    for w in windows:
        entry = counts.setdefault(w["queue"], {"minute": [0] * 4, "hour": [0] * 4})
        values = [w["enqueued"], w["succeeded"], w["failed"], w["dead_lettered"]]
        entry["hour"] = [a + b for a, b in zip(entry["hour"], values)]
        if w["last_minute"]:
            entry["minute"] = [a + b for a, b in zip(entry["minute"], values)]
    by_queue = {s["queue"]: s for s in states}
    result = []
    for queue in sorted(set(by_queue) | set(counts)):
        s = by_queue.get(queue)
        c = counts.get(queue, {"minute": [0] * 4, "hour": [0] * 4})
        result.append(QueueStats(
            queue=queue,
            **({k: s[k] for k in ("ready", "scheduled", "retrying", "running", "succeeded", "dead",
                                  "cancelled")} if s else {}),
            oldest_ready_age=float(s["oldest_ready_age"]) if s else 0.0,
            last_minute=WindowCounts(*c["minute"]), last_hour=WindowCounts(*c["hour"]),
        ))
    return result
def deliveries(found, now: datetime) -> list[Event]:
    """The enqueue events of the callback deliveries a statement made with its moves (the
    `deliveries` column of callbacks_sql, the same in every row)."""
    made = found[0]["deliveries"] if found else None
    return [Event(job_id, CALLBACK_QUEUE, None, JobState.PENDING, Reason.ENQUEUE, 0, now, kind=kind)
            for job_id, kind in made or ()]
