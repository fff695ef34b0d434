"""Wire types <-> use-case types. Unset optional fields become None; values are validated by the
use cases, not here."""

from __future__ import annotations

import functools
from datetime import datetime, timezone

from google.protobuf import duration_pb2, timestamp_pb2

from broker.entities.errors import InvalidArgument
from broker.entities.job import Event, Job, JobState
from broker.entities.lease import LeaseRef, LeaseResult, Outcome
from broker.entities.payload import PayloadRef
from broker.entities.progress import Progress
from broker.entities.queue import MAX_DURATION
from broker.entities.retry import Jitter, RetryPolicy
from broker.usecases.enqueue import JobSpec, RetrySpec
from broker.v1 import job_pb2, job_service_pb2

STATE_TO_WIRE = {
    JobState.PENDING: job_pb2.JOB_STATE_PENDING, JobState.RUNNING: job_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: job_pb2.JOB_STATE_SUCCEEDED, JobState.DEAD: job_pb2.JOB_STATE_DEAD,
    JobState.CANCELLED: job_pb2.JOB_STATE_CANCELLED,
}
STATE_FROM_WIRE = {v: k for k, v in STATE_TO_WIRE.items()}
JITTER_TO_WIRE = {Jitter.NONE: job_pb2.JITTER_NONE, Jitter.FULL: job_pb2.JITTER_FULL,
                  Jitter.EQUAL: job_pb2.JITTER_EQUAL}
JITTER_FROM_WIRE = {v: k for k, v in JITTER_TO_WIRE.items()}
OUTCOME_TO_WIRE = {Outcome.OK: job_service_pb2.LEASE_OUTCOME_OK, Outcome.LOST: job_service_pb2.LEASE_OUTCOME_LOST,
                   Outcome.NOT_FOUND: job_service_pb2.LEASE_OUTCOME_NOT_FOUND}

def seconds(msg, parent, field: str) -> float | None:
    """A Duration field in seconds, or None when unset."""
    if not parent.HasField(field):
        return None
    value = msg.seconds + msg.nanos / 1e9
    if not -MAX_DURATION <= value <= MAX_DURATION:
        raise InvalidArgument(field, "is out of range")
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return value


def when(parent, field: str) -> datetime | None:
    if not parent.HasField(field):
        return None
    stamp = getattr(parent, field)
    try:
        return stamp.ToDatetime(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is not a valid timestamp") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def set_time(stamp: timestamp_pb2.Timestamp, value: datetime | None) -> None:
    """Exact, and several times cheaper than Timestamp.FromDatetime (a hot path in Lease)."""
    if value is not None:
        delta = value - _EPOCH
        stamp.seconds = delta.days * 86400 + delta.seconds
        stamp.nanos = delta.microseconds * 1000


def set_duration(msg: duration_pb2.Duration, value: float) -> None:
    nanos = int(round(value * 1e9))
    msg.seconds, msg.nanos = int(nanos // 1_000_000_000), int(nanos % 1_000_000_000)


_NO_RETRY_OVERRIDE = RetrySpec()


def spec_from_wire(spec: job_pb2.JobSpec, at: str) -> JobSpec:
    try:
        return JobSpec(
            queue=spec.queue, kind=spec.kind, payload=spec.payload,
            headers=dict(spec.headers) if spec.headers else {},
            idempotency_key=spec.idempotency_key or None, priority=spec.priority,
            run_at=when(spec, "run_at"), max_attempts=spec.max_attempts or None,
            retry=_retry_from_wire(spec.retry_policy) if spec.HasField("retry_policy") else _NO_RETRY_OVERRIDE,
            lease_duration=seconds(spec.lease_duration, spec, "lease_duration"),
            max_lease_expiries=spec.max_lease_expiries or None,
            payload_ref=ref_from_wire(spec.payload_ref) if spec.HasField("payload_ref") else None,
            concurrency_key=spec.concurrency_key or None,
        )
    except InvalidArgument as exc:
        prefix = at + ("retry_policy." if exc.field in ("initial_delay", "max_delay", "multiplier", "jitter") else "")
        raise exc.at(prefix) from None


def ref_from_wire(ref: job_pb2.PayloadRef) -> PayloadRef:
    return PayloadRef(ref.key, ref.size, ref.sha256)


def ref_to_wire(ref: PayloadRef, out: job_pb2.PayloadRef) -> job_pb2.PayloadRef:
    out.key, out.size, out.sha256 = ref.key, ref.size, ref.sha256
    return out


def _retry_from_wire(policy: job_pb2.RetryPolicy) -> RetrySpec:
    if policy.multiplier < 0:
        raise InvalidArgument("multiplier", "must not be negative")
    if policy.jitter not in JITTER_FROM_WIRE and policy.jitter != job_pb2.JITTER_UNSPECIFIED:
        raise InvalidArgument("jitter", f"unknown value {policy.jitter}")
    return RetrySpec(
        initial_delay=seconds(policy.initial_delay, policy, "initial_delay"),
        max_delay=seconds(policy.max_delay, policy, "max_delay"),
        multiplier=policy.multiplier or None,
        jitter=JITTER_FROM_WIRE.get(policy.jitter),
    )


@functools.lru_cache(maxsize=1024)
def _policy_to_wire(policy: RetryPolicy) -> job_pb2.RetryPolicy:
    """Jobs share a few policies: build each message once and copy it (a C-level copy)."""
    out = job_pb2.RetryPolicy(multiplier=policy.multiplier, jitter=JITTER_TO_WIRE[policy.jitter])
    set_duration(out.initial_delay, policy.initial_delay)
    set_duration(out.max_delay, policy.max_delay)
    return out


@functools.lru_cache(maxsize=1024)
def _duration_to_wire(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    set_duration(out, seconds)
    return out


def job_to_wire(job: Job, out: job_pb2.Job) -> job_pb2.Job:
    """Lease builds one of these per job: only non-default fields are set."""
    out.id, out.queue, out.kind, out.payload = job.id, job.queue, job.kind, job.payload
    if job.headers:
        out.headers.update(job.headers)
    if job.idempotency_key:
        out.idempotency_key = job.idempotency_key
    if job.concurrency_key:
        out.concurrency_key = job.concurrency_key
    out.priority, out.state = job.priority, STATE_TO_WIRE[job.state]
    out.attempt, out.max_attempts = job.attempt, job.max_attempts
    if job.lease_expiries:
        out.lease_expiries = job.lease_expiries
    if job.max_lease_expiries:
        out.max_lease_expiries = job.max_lease_expiries
    if job.result:
        out.result = job.result
    if job.snoozes:
        out.snoozes = job.snoozes
    if job.progress is not None:
        out.progress.fraction, out.progress.message = job.progress.fraction, job.progress.message
        set_time(out.progress_at, job.progress.at)
    if job.payload_ref is not None:
        ref_to_wire(job.payload_ref, out.payload_ref)
    set_time(out.run_at, job.run_at)
    out.retry_policy.CopyFrom(_policy_to_wire(job.retry))
    out.lease_duration.CopyFrom(_duration_to_wire(job.lease_duration))
    if job.worker_id:
        out.worker_id = job.worker_id
    if job.state is JobState.RUNNING:
        set_time(out.lease_expires_at, job.lease_expires_at)
    if job.errors:
        out.last_error = job.errors[-1].error
        for err in job.errors:
            set_time(out.errors.add(attempt=err.attempt, error=err.error).at, err.at)
    set_time(out.created_at, job.created_at)
    set_time(out.updated_at, job.updated_at)
    set_time(out.finished_at, job.finished_at)
    return out


def event_to_wire(event: Event, out: job_pb2.JobEvent) -> None:
    out.id, out.job_id = event.id, event.job_id
    out.from_state = STATE_TO_WIRE[event.from_state] if event.from_state else job_pb2.JOB_STATE_UNSPECIFIED
    out.to_state, out.attempt = STATE_TO_WIRE[event.to_state], event.attempt
    out.worker_id, out.error, out.reason = event.worker_id or "", event.error or "", event.reason.value
    if event.progress is not None:
        out.progress.fraction, out.progress.message = event.progress.fraction, event.progress.message
    set_time(out.at, event.at)


def progress_from_wire(progress: job_pb2.Progress) -> Progress:
    return Progress(progress.fraction, progress.message)


def refs_from_wire(leases) -> list[LeaseRef]:
    return [LeaseRef(ref.job_id, ref.lease_token) for ref in leases]


def results_to_wire(results: list[LeaseResult], out) -> None:
    for r in results:
        item = out.add(job_id=r.job_id, outcome=OUTCOME_TO_WIRE[r.outcome])
        if r.state is not None:
            item.state = STATE_TO_WIRE[r.state]
        set_time(item.at, r.at)
