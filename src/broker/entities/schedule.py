"""Schedules (cron): what one is, its checks, and the pure rule "which fire times are due now".

The cron expression itself is read by a library behind a port (usecases/schedules/ports.py,
CronParser): here it is only a function from a local wall-clock time to the next matching one.
Time zones and daylight saving are handled here, with the standard library's zoneinfo:

- the cron expression matches local wall-clock times in the schedule's zone;
- a wall-clock time that does not exist (the hour skipped when clocks go forward) is skipped;
- a wall-clock time that happens twice (the hour repeated when clocks go back) fires once, at
  its first occurrence.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from broker.entities.errors import InvalidArgument
from broker.entities.retry import Jitter

# A naive local wall-clock time -> the first matching wall-clock time strictly after it.
WallCron = Callable[[datetime], datetime]

MAX_NAME_LENGTH = 128
_NAME = re.compile(r"[A-Za-z0-9._-]+")
# A fire time later than this when the scheduler reaches it counts as missed (after downtime),
# and the schedule's MissedFires policy decides what becomes of it.
MISSED_AFTER = timedelta(seconds=60)
# Wall-clock steps looked at for one next fire time before giving up: an every-second schedule
# inside a repeated hour steps through up to 3,600 times that already fired.
_MAX_STEPS = 10_000
_TICK = timedelta(microseconds=1)


class MissedFires(enum.Enum):
    """What a schedule does with fire times it missed (the brokers were down, or it was late by
    more than MISSED_AFTER)."""

    SKIP = "skip"          # nothing: only fire times from now on
    RUN_ONCE = "run_once"  # one job for all the missed ones (keyed by the latest)
    CATCH_UP = "catch_up"  # a job for each of the latest `catch_up_limit` missed ones


@dataclass(frozen=True, slots=True)
class JobTemplate:
    """The job each fire enqueues. None means the queue's default, as in a job spec; the
    idempotency key and run_at are each fire's own."""

    queue: str
    kind: str
    payload: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    max_attempts: int | None = None
    retry_initial: float | None = None
    retry_max: float | None = None
    retry_multiplier: float | None = None
    retry_jitter: Jitter | None = None
    lease_duration: float | None = None
    max_lease_expiries: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleDefinition:
    """What an operator declares: a name, when (cron and zone), what (the job) and the policy
    for missed fires."""

    name: str
    cron: str
    job: JobTemplate
    time_zone: str = "UTC"
    missed: MissedFires = MissedFires.SKIP
    catch_up_limit: int = 0

    @property
    def when(self) -> tuple[str, str]:
        return self.cron, self.time_zone


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as the broker holds it. `declared`: it comes from BROKER_SCHEDULES_FILE (the
    file owns it), not from the API."""

    definition: ScheduleDefinition
    next_fire_at: datetime
    paused: bool = False
    declared: bool = False
    last_fire_at: datetime | None = None
    last_job_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.definition.name


def check_name(name: str, field_name: str = "name") -> str:
    if not name:
        raise InvalidArgument(field_name, "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(field_name, f"is {len(name)} characters; at most {MAX_NAME_LENGTH}")
    if not _NAME.fullmatch(name):
        raise InvalidArgument(field_name, f"{name[:40]!r}: only letters, digits, '.', '_' and '-'")
    return name


def zone(name: str, field_name: str = "time_zone") -> ZoneInfo:
    """The IANA time zone `name` (e.g. Europe/Berlin), or InvalidArgument."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path-like or malformed key
        raise InvalidArgument(field_name, f"{name[:60]!r} is not a known IANA time zone "
                                          "(e.g. UTC, Europe/Berlin, America/New_York)") from None


def check_policy(missed: MissedFires, limit: int, max_limit: int, at: str = "") -> None:
    if missed is MissedFires.CATCH_UP:
        if not 1 <= limit <= max_limit:
            raise InvalidArgument(at + "catch_up_limit", f"{limit}: with catch-up, 1 to {max_limit}")
    elif limit != 0:
        raise InvalidArgument(at + "catch_up_limit", f"{limit}: only catch-up takes a limit (leave it 0)")


def fire_key(name: str, fire_at: datetime) -> str:
    """The idempotency key of one fire: racing replicas enqueue it once."""
    return f"schedule:{name}:{fire_at.astimezone(timezone.utc).isoformat()}"


def _instant(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """The first instant the wall-clock time `wall` happens in `tz` (UTC); None when it does not
    exist there (skipped by a clock change)."""
    aware = wall.replace(tzinfo=tz, fold=0)
    at = aware.astimezone(timezone.utc)
    return at if at.astimezone(tz).replace(tzinfo=None) == wall else None


def next_fire(cron: WallCron, tz: ZoneInfo, after: datetime) -> datetime:
    """The first fire time strictly after `after` (aware), in UTC."""
    wall = after.astimezone(tz).replace(tzinfo=None, fold=0)
    for _ in range(_MAX_STEPS):
        wall = cron(wall)
        at = _instant(wall, tz)
        if at is not None and at > after:  # not the first pass of a repeated hour, seen again
            return at
    raise InvalidArgument("cron", "found no fire time it can reach")


def fires_between(cron: WallCron, tz: ZoneInfo, after: datetime, until: datetime,
                  keep: int | None = None) -> tuple[list[datetime], int]:
    """Fire times in (after, until], oldest first: the latest `keep` of them (all: None), and
    how many there were."""
    kept: deque[datetime] = deque(maxlen=keep)
    count, at = 0, next_fire(cron, tz, after)
    while at <= until:
        kept.append(at)
        count += 1
        at = next_fire(cron, tz, at)
    return list(kept), count


def _latest(cron: WallCron, tz: ZoneInfo, after: datetime, until: datetime, k: int) -> list[datetime]:
    """The latest `k` fire times in (after, until], looking back in widening windows so that a
    long downtime costs about k steps, not one per fire time missed."""
    span = timedelta(minutes=1)
    while True:
        start = max(after, until - span)
        kept, count = fires_between(cron, tz, start, until, k)
        if count >= k or start == after:
            return kept
        span *= 4


@dataclass(frozen=True, slots=True)
class Due:
    """What one pass of the scheduler does for a schedule: enqueue a job for each of `fires`
    (oldest first), then wait for `next_fire_at`."""

    fires: tuple[datetime, ...]
    next_fire_at: datetime


def due(cron: WallCron, tz: ZoneInfo, next_fire_at: datetime, now: datetime, missed: MissedFires,
        catch_up_limit: int = 0, late: timedelta = MISSED_AFTER, max_fires: int = 1000) -> Due:
    """The fire times due at `now` for a schedule whose next fire time is `next_fire_at`, under
    its policy. Fire times within `late` of now are on time and always fire (at most
    `max_fires`, the latest); older ones were missed: SKIP drops them, RUN_ONCE fires the latest
    one, CATCH_UP the latest `catch_up_limit`."""
    if next_fire_at > now:
        return Due((), next_fire_at)
    after, cut = next_fire_at - _TICK, now - late
    on_time, _ = fires_between(cron, tz, max(after, cut), now, max_fires)
    wanted = {MissedFires.SKIP: 0, MissedFires.RUN_ONCE: 1, MissedFires.CATCH_UP: catch_up_limit}[missed]
    wanted = min(wanted, max_fires - len(on_time))
    late_ones = _latest(cron, tz, after, cut, wanted) if wanted > 0 and after < cut else []
    return Due(tuple(late_ones + on_time), next_fire(cron, tz, now))
