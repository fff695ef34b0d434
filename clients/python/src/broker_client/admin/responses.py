"""Records from AdminService responses, shared by the sync and asyncio admin clients."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..jobs import RetryPolicy
from ..v1 import admin_service_pb2 as pb
from ..v1 import job_pb2
from .records import AttemptError, Job, JobEvent, JobHistory, JobPage, Progress, RedriveResult
from .requests import STATE_TO_WIRE
from .queues import controls
from .stats import QueueStats, StatsReport, WindowCounts

_FROM_WIRE = {wire: state for state, wire in STATE_TO_WIRE.items()}
_JITTER = {job_pb2.JITTER_NONE: "none", job_pb2.JITTER_FULL: "full", job_pb2.JITTER_EQUAL: "equal"}


def _stamp(msg: Any, name: str) -> datetime | None:
    return getattr(msg, name).ToDatetime(tzinfo=timezone.utc) if msg.HasField(name) else None


def _seconds(msg: Any, name: str) -> float | None:
    return getattr(msg, name).ToNanoseconds() / 1e9 if msg.HasField(name) else None


def _retry_policy(job: job_pb2.Job) -> RetryPolicy | None:
    if not job.HasField("retry_policy"):
        return None
    p = job.retry_policy
    return RetryPolicy(initial_delay=_seconds(p, "initial_delay"), max_delay=_seconds(p, "max_delay"),
                       multiplier=p.multiplier or None, jitter=_JITTER.get(p.jitter))  # type: ignore[arg-type]


def job(msg: job_pb2.Job) -> Job:
    """The record of a wire Job."""
    errors = tuple(AttemptError(e.attempt, e.error, _stamp(e, "at")) for e in msg.errors)
    return Job(id=msg.id, queue=msg.queue, kind=msg.kind, state=_FROM_WIRE[msg.state], payload=bytes(msg.payload),
               headers=dict(msg.headers), idempotency_key=msg.idempotency_key, priority=msg.priority,
               attempt=msg.attempt, max_attempts=msg.max_attempts, lease_expiries=msg.lease_expiries,
               max_lease_expiries=msg.max_lease_expiries, run_at=_stamp(msg, "run_at"),
               retry_policy=_retry_policy(msg), lease_duration=_seconds(msg, "lease_duration"),
               worker_id=msg.worker_id, lease_expires_at=_stamp(msg, "lease_expires_at"),
               last_error=msg.last_error, errors=errors, created_at=_stamp(msg, "created_at"),
               updated_at=_stamp(msg, "updated_at"), finished_at=_stamp(msg, "finished_at"),
               result=bytes(msg.result) if msg.result else None, concurrency_key=msg.concurrency_key,
               snoozes=msg.snoozes,
               progress=Progress(msg.progress.fraction, msg.progress.message, _stamp(msg, "progress_at"))
               if msg.HasField("progress") else None)


def event(msg: job_pb2.JobEvent) -> JobEvent:
    return JobEvent(id=msg.id, job_id=msg.job_id, from_state=_FROM_WIRE.get(msg.from_state),
                    to_state=_FROM_WIRE[msg.to_state], reason=msg.reason, attempt=msg.attempt,
                    worker_id=msg.worker_id, error=msg.error, at=_stamp(msg, "at"),
                    progress=Progress(msg.progress.fraction, msg.progress.message, _stamp(msg, "at"))
                    if msg.HasField("progress") else None)


def history(response: pb.GetJobResponse) -> JobHistory:
    return JobHistory(job(response.job), tuple(event(e) for e in response.events))


def page(response: pb.ListJobsResponse) -> JobPage:
    return JobPage(tuple(job(j) for j in response.jobs), response.next_page_token)


def _window(msg: pb.WindowCounts) -> WindowCounts:
    return WindowCounts(msg.enqueued, msg.succeeded, msg.failed, msg.dead_lettered, msg.failure_rate)


_BREAKER = {pb.BREAKER_STATE_CLOSED: "closed", pb.BREAKER_STATE_OPEN: "open", pb.BREAKER_STATE_HALF_OPEN: "half_open"}


def stats(response: pb.StatsResponse) -> StatsReport:
    queues = tuple(QueueStats(q.queue, q.ready, q.scheduled, q.retrying, q.running, q.succeeded, q.dead,
                              q.cancelled, q.oldest_ready_age.ToNanoseconds() / 1e9,
                              _window(q.last_minute), _window(q.last_hour),
                              controls(q.controls) if q.HasField("controls") else None, _BREAKER.get(q.breaker))
                   for q in response.queues)
    return StatsReport(queues, _stamp(response, "at"))


def redriven(response: pb.RedriveJobsResponse) -> RedriveResult:
    return RedriveResult(response.redriven, tuple(response.job_ids))
