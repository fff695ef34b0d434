"""Schedules (cron) for the admin clients: the Schedule record, and the requests built from
plain arguments (sync and asyncio alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..v1 import admin_service_pb2 as pb
from ..v1 import job_pb2

MISSED = {"skip": pb.MISSED_FIRES_SKIP, "run_once": pb.MISSED_FIRES_RUN_ONCE, "catch_up": pb.MISSED_FIRES_CATCH_UP}
_MISSED_NAMES = {v: k for k, v in MISSED.items()}


@dataclass(frozen=True)
class Schedule:
    """A schedule as the broker holds it: its definition, ``paused``, the next fire time and
    the last fire (or trigger) with its job. ``declared``: it comes from the broker's
    BROKER_SCHEDULES_FILE, which owns it (update and delete it there)."""

    name: str
    cron: str
    time_zone: str
    queue: str
    kind: str
    payload: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    max_attempts: int = 0
    missed: str = "skip"
    catch_up_limit: int = 0
    paused: bool = False
    declared: bool = False
    next_fire_at: datetime | None = None
    last_fire_at: datetime | None = None
    last_job_id: str = ""


def _stamp(msg: Any, name: str) -> datetime | None:
    return getattr(msg, name).ToDatetime(tzinfo=timezone.utc) if msg.HasField(name) else None


def schedule(msg: pb.Schedule) -> Schedule:
    s, job = msg.spec, msg.spec.job
    return Schedule(s.name, s.cron, s.time_zone, job.queue, job.kind, bytes(job.payload), dict(job.headers),
                    job.priority, job.max_attempts, _MISSED_NAMES.get(s.missed, "skip"), s.catch_up_limit,
                    msg.paused, msg.declared, _stamp(msg, "next_fire_at"), _stamp(msg, "last_fire_at"),
                    msg.last_job_id)


def spec(name: str, cron: str, queue: str, kind: str, *, time_zone: str = "UTC", payload: bytes | str = b"",
         headers: Mapping[str, str] | None = None, priority: int = 0, max_attempts: int = 0,
         missed: str = "skip", catch_up_limit: int = 0) -> pb.ScheduleSpec:
    """Checks only what the wire cannot carry; the broker checks the rest, naming the field."""
    if missed not in MISSED:
        raise ValueError(f"missed={missed!r}: one of {', '.join(MISSED)}")
    body = payload.encode() if isinstance(payload, str) else payload
    job = job_pb2.JobSpec(queue=queue, kind=kind, payload=body, headers=dict(headers or {}), priority=priority,
                          max_attempts=max_attempts)
    return pb.ScheduleSpec(name=name, cron=cron, time_zone=time_zone, job=job, missed=MISSED[missed],
                           catch_up_limit=catch_up_limit)
