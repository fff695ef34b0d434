"""Checking a schedule definition (shared by create, update and the schedules file), and the job
spec of one fire."""

from __future__ import annotations

from datetime import datetime

from broker.entities.errors import InvalidArgument
from broker.entities.schedule import (JobTemplate, ScheduleDefinition, WallCron, check_name, check_policy,
                                      next_fire, zone)
from broker.usecases.enqueue import Enqueue, JobSpec, RetrySpec
from broker.usecases.schedules.ports import CronParser


def job_spec(t: JobTemplate, key: str | None = None, run_at: datetime | None = None) -> JobSpec:
    return JobSpec(queue=t.queue, kind=t.kind, payload=t.payload, headers=dict(t.headers), idempotency_key=key,
                   priority=t.priority, run_at=run_at, max_attempts=t.max_attempts,
                   retry=RetrySpec(t.retry_initial, t.retry_max, t.retry_multiplier, t.retry_jitter),
                   lease_duration=t.lease_duration, max_lease_expiries=t.max_lease_expiries)


class Definitions:
    """Checks definitions: the name, the cron expression (it must fire some day), the zone, the
    missed-fire policy, and the job as Enqueue would check it. Each error names its field under
    the prefix given (e.g. `schedule.`)."""

    def __init__(self, cron: CronParser, enqueue: Enqueue, max_catch_up: int) -> None:
        self._cron, self._enqueue, self._max_catch_up = cron, enqueue, max_catch_up

    def check(self, d: ScheduleDefinition, now: datetime, at: str = "schedule.") -> datetime:
        """The definition's first fire time after `now`, or InvalidArgument."""
        check_name(d.name, at + "name")
        first = self.first_fire(d, now, at)
        check_policy(d.missed, d.catch_up_limit, self._max_catch_up, at)
        self._enqueue.check(job_spec(d.job), at + "job.")
        return first

    def first_fire(self, d: ScheduleDefinition, after: datetime, at: str = "schedule.") -> datetime:
        tz = zone(d.time_zone, at + "time_zone")
        try:
            return next_fire(self.parse(d.cron, at), tz, after)
        except InvalidArgument as exc:
            raise InvalidArgument(at + "cron", str(exc).split(": ", 1)[1]) from None

    def parse(self, expression: str, at: str = "schedule.") -> WallCron:
        try:
            return self._cron.parse(expression)
        except InvalidArgument as exc:
            raise InvalidArgument(at + "cron", str(exc).split(": ", 1)[1]) from None
