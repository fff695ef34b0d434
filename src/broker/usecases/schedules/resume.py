"""ResumeSchedule: a paused schedule fires again."""

from __future__ import annotations

from broker.entities.errors import ScheduleNotFound
from broker.entities.schedule import Schedule, check_name
from broker.usecases.ports import Clock
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.ports import ScheduleStore


class ResumeSchedule:
    """Fires again from the next fire time after now: what fell due while it was paused is not
    caught up (pausing means "skip these"). Resuming a running schedule changes nothing."""

    def __init__(self, store: ScheduleStore, clock: Clock, definitions: Definitions) -> None:
        self._store, self._clock, self._definitions = store, clock, definitions

    async def __call__(self, name: str) -> Schedule:
        check_name(name)  # a name no schedule can have is bad input, not a lookup
        found = await self._store.get(name)
        if found is None:
            raise ScheduleNotFound(name)
        if not found.paused:
            return found
        now = self._clock.now()
        updated = await self._store.set_paused(name, False, self._definitions.first_fire(found.definition, now), now)
        if updated is None:
            raise ScheduleNotFound(name)
        return updated
