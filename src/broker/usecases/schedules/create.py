"""CreateSchedule: a new schedule, first fire after now."""

from __future__ import annotations

from broker.entities.errors import AlreadyExists
from broker.entities.schedule import Schedule, ScheduleDefinition
from broker.usecases.ports import Clock
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.ports import ScheduleStore


class CreateSchedule:
    """Adds a schedule; AlreadyExists when the name is taken. Bad input changes nothing."""

    def __init__(self, store: ScheduleStore, clock: Clock, definitions: Definitions) -> None:
        self._store, self._clock, self._definitions = store, clock, definitions

    async def __call__(self, definition: ScheduleDefinition, paused: bool = False) -> Schedule:
        now = self._clock.now()
        schedule = Schedule(definition, self._definitions.check(definition, now), paused=paused)
        if not await self._store.create(schedule, now):
            raise AlreadyExists(f"schedule {definition.name!r} exists already; update it instead",
                                schedule=definition.name)
        return await self._store.get(definition.name) or schedule
