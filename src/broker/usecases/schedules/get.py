"""GetSchedule: one schedule by name."""

from __future__ import annotations

from broker.entities.errors import ScheduleNotFound
from broker.entities.schedule import Schedule, check_name
from broker.usecases.schedules.ports import ScheduleStore


class GetSchedule:
    """One schedule; ScheduleNotFound when there is none of that name."""

    def __init__(self, store: ScheduleStore) -> None:
        self._store = store

    async def __call__(self, name: str) -> Schedule:
        check_name(name)  # a name no schedule can have is bad input, not a lookup
        found = await self._store.get(name)
        if found is None:
            raise ScheduleNotFound(name)
        return found
