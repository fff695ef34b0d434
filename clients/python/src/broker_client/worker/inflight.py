"""A job this worker holds a lease on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .context import JobContext
from ..v1 import job_service_pb2 as pb

DEFAULT_LEASE_SECONDS = 30.0
# Heartbeat when a third of the lease has passed: two more tries before it lapses.
HEARTBEAT_FRACTION = 1 / 3


def lease_seconds(leased: pb.LeasedJob, override: float | None, now: datetime | None = None) -> float:
    """How long this lease lasts: the worker's override, the job's lease duration, else what
    is left until its deadline, else the broker's documented default."""
    if override:
        return override
    if leased.job.HasField("lease_duration"):
        return float(leased.job.lease_duration.ToNanoseconds() / 1e9)
    if leased.HasField("lease_expires_at"):
        now = now or datetime.now(timezone.utc)
        left: float = (leased.lease_expires_at.ToDatetime(tzinfo=timezone.utc) - now).total_seconds()
        if left > 0:
            return left
    return DEFAULT_LEASE_SECONDS


@dataclass(eq=False, slots=True)
class InFlight:
    """The lease, the handler's context and task, and when the lease was last extended
    (event-loop time)."""

    leased: pb.LeasedJob
    ctx: JobContext
    lease_seconds: float
    extended_at: float
    task: asyncio.Task[None] | None = None
    # Set when the broker says the lease is gone: the result must be dropped.
    lost: bool = False
    # Read from `leased` once: the pool looks them up several times per job.
    job_id: str = field(init=False)
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.job_id = self.leased.job.id
        self.token = self.leased.lease_token

    def ref(self) -> pb.LeaseRef:
        return pb.LeaseRef(job_id=self.job_id, lease_token=self.token)

    @property
    def heartbeat_due(self) -> float:
        return self.extended_at + self.lease_seconds * HEARTBEAT_FRACTION
