"""PauseSchedule: a schedule stops firing."""

from __future__ import annotations

from broker.entities.errors import ScheduleNotFound
from broker.entities.schedule import Schedule, check_name
from broker.usecases.ports import Clock
from broker.usecases.schedules.ports import ScheduleStore


class PauseSchedule:
    """A paused schedule does not fire (trigger still works). Pausing twice is a no-op."""

    def __init__(self, store: ScheduleStore, clock: Clock) -> None:
        self._store, self._clock = store, clock

    async def __call__(self, name: str) -> Schedule:
        check_name(name)  # a name no schedule can have is bad input, not a lookup
        found = await self._store.set_paused(name, True, None, self._clock.now())
        if found is None:
            raise ScheduleNotFound(name)
        return found
