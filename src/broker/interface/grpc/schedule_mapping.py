"""Schedules: wire <-> entity. The job template is a JobSpec on the wire, read by the same
mapping as Enqueue's; a template with its own idempotency key or run_at is refused."""

from __future__ import annotations

from broker.entities.errors import InvalidArgument
from broker.entities.schedule import JobTemplate, MissedFires, Schedule, ScheduleDefinition
from broker.interface.grpc import mapping
from broker.v1 import admin_service_pb2 as pb

MISSED_FROM_WIRE = {pb.MISSED_FIRES_UNSPECIFIED: MissedFires.SKIP, pb.MISSED_FIRES_SKIP: MissedFires.SKIP,
                    pb.MISSED_FIRES_RUN_ONCE: MissedFires.RUN_ONCE, pb.MISSED_FIRES_CATCH_UP: MissedFires.CATCH_UP}
MISSED_TO_WIRE = {MissedFires.SKIP: pb.MISSED_FIRES_SKIP, MissedFires.RUN_ONCE: pb.MISSED_FIRES_RUN_ONCE,
                  MissedFires.CATCH_UP: pb.MISSED_FIRES_CATCH_UP}


def definition_from_wire(spec: pb.ScheduleSpec, at: str = "schedule.") -> ScheduleDefinition:
    if spec.missed not in MISSED_FROM_WIRE:
        raise InvalidArgument(at + "missed", f"unknown value {spec.missed}")
    if not spec.HasField("job"):
        raise InvalidArgument(at + "job", "is required: the job each fire enqueues")
    for name in ("idempotency_key", "run_at"):
        if spec.job.HasField(name) if name == "run_at" else getattr(spec.job, name):
            raise InvalidArgument(at + "job." + name, "must be unset: each fire sets its own")
    job = mapping.spec_from_wire(spec.job, at + "job.")
    template = JobTemplate(job.queue, job.kind, job.payload, job.headers, job.priority, job.max_attempts,
                           job.retry.initial_delay, job.retry.max_delay, job.retry.multiplier, job.retry.jitter,
                           job.lease_duration, job.max_lease_expiries)
    return ScheduleDefinition(spec.name, spec.cron, template, spec.time_zone or "UTC",
                              MISSED_FROM_WIRE[spec.missed], spec.catch_up_limit)


def _job_to_wire(t: JobTemplate, out) -> None:
    out.queue, out.kind, out.payload, out.priority = t.queue, t.kind, t.payload, t.priority
    out.headers.update(t.headers)
    out.max_attempts, out.max_lease_expiries = t.max_attempts or 0, t.max_lease_expiries or 0
    if t.lease_duration is not None:
        mapping.set_duration(out.lease_duration, t.lease_duration)
    retry = (t.retry_initial, t.retry_max, t.retry_multiplier, t.retry_jitter)
    if any(v is not None for v in retry):
        if t.retry_initial is not None:
            mapping.set_duration(out.retry_policy.initial_delay, t.retry_initial)
        if t.retry_max is not None:
            mapping.set_duration(out.retry_policy.max_delay, t.retry_max)
        out.retry_policy.multiplier = t.retry_multiplier or 0
        if t.retry_jitter is not None:
            out.retry_policy.jitter = mapping.JITTER_TO_WIRE[t.retry_jitter]


def schedule_to_wire(s: Schedule, out: pb.Schedule) -> pb.Schedule:
    d = s.definition
    out.spec.name, out.spec.cron, out.spec.time_zone = d.name, d.cron, d.time_zone
    out.spec.missed, out.spec.catch_up_limit = MISSED_TO_WIRE[d.missed], d.catch_up_limit
    _job_to_wire(d.job, out.spec.job)
    out.paused, out.declared, out.last_job_id = s.paused, s.declared, s.last_job_id or ""
    for name in ("next_fire_at", "last_fire_at", "created_at", "updated_at"):
        mapping.set_time(getattr(out, name), getattr(s, name))
    return out
