"""The ports the schedule interactors need: the cron reader and the schedule store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from broker.entities.schedule import Schedule, ScheduleDefinition, WallCron


class CronParser(Protocol):
    """Reads cron expressions (a library does it: infra/cron.py)."""

    def parse(self, expression: str) -> WallCron:
        """The expression as a function from a naive wall-clock time to the next matching one;
        InvalidArgument("cron", ...) when it is not one this broker takes."""


@dataclass(frozen=True, slots=True)
class Declared:
    """What applying the schedules file changed, by name."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


class ScheduleStore(Protocol):
    """Durable home of the schedules and their state (next fire time, last fire, last job).
    Every change is one atomic statement; firing is claimed, and advanced only from the next
    fire time the claimant read."""

    async def create(self, schedule: Schedule, now: datetime) -> bool:
        """Insert it; False (and nothing changes) when the name is taken."""

    async def replace(self, definition: ScheduleDefinition, next_fire_at: datetime | None,
                      now: datetime) -> Schedule | None:
        """A new definition for the schedule of that name; `next_fire_at` None keeps its next
        fire time. None when there is no such schedule."""

    async def delete(self, name: str) -> bool:
        """False when there was no such schedule."""

    async def get(self, name: str) -> Schedule | None: ...

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""

    async def set_paused(self, name: str, paused: bool, next_fire_at: datetime | None,
                         now: datetime) -> Schedule | None:
        """Pause or resume; `next_fire_at` None keeps it. None when there is no such schedule."""

    async def claim_due(self, now: datetime, until: datetime, limit: int) -> list[Schedule]:
        """Up to `limit` unpaused schedules whose next fire time has come and that nobody else
        holds, held until `until` (another replica takes them over after that)."""

    async def advance(self, name: str, expected_next: datetime, next_fire_at: datetime,
                      last_fire_at: datetime | None, last_job_id: str | None, now: datetime) -> bool:
        """Record a pass of the scheduler and release the claim, when the schedule's next fire
        time is still `expected_next` (False otherwise: someone else did, or it was redefined)."""

    async def record_trigger(self, name: str, job_id: str, now: datetime) -> Schedule | None:
        """A job enqueued by hand for the schedule: its last job and fire time."""

    async def apply_declared(self, schedules: Sequence[Schedule], now: datetime) -> Declared:
        """Make the declared schedules those given, atomically: create the new ones, redefine
        the changed ones (keeping the next fire time unless the cron or zone changed, and the
        pause state), delete the declared ones not named any more. Schedules created through
        the API are left alone, unless the file names them: then the file owns them."""
