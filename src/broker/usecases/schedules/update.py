"""UpdateSchedule: a schedule's new definition."""

from __future__ import annotations

from broker.entities.errors import FailedPrecondition, ScheduleNotFound
from broker.entities.schedule import Schedule, ScheduleDefinition
from broker.usecases.ports import Clock
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.ports import ScheduleStore


def check_not_declared(schedule: Schedule | None, name: str, verb: str) -> Schedule:
    if schedule is None:
        raise ScheduleNotFound(name)
    if schedule.declared:
        raise FailedPrecondition(f"schedule {name!r} is declared in BROKER_SCHEDULES_FILE: {verb} it there",
                                 subject=f"schedules/{name}", violation_type="DECLARED_IN_FILE", schedule=name)
    return schedule


class UpdateSchedule:
    """Replaces a schedule's definition. A new cron expression or zone starts afresh from now;
    otherwise the next fire time stays. Schedules of the schedules file are changed there."""

    def __init__(self, store: ScheduleStore, clock: Clock, definitions: Definitions) -> None:
        self._store, self._clock, self._definitions = store, clock, definitions

    async def __call__(self, definition: ScheduleDefinition) -> Schedule:
        now = self._clock.now()
        first = self._definitions.check(definition, now)
        old = check_not_declared(await self._store.get(definition.name), definition.name, "change")
        changed_when = old.definition.when != definition.when
        updated = await self._store.replace(definition, first if changed_when else None, now)
        if updated is None:
            raise ScheduleNotFound(definition.name)
        return updated
