"""ListSchedules: every schedule."""

from __future__ import annotations

from broker.entities.schedule import Schedule
from broker.usecases.schedules.ports import ScheduleStore


class ListSchedules:
    """Every schedule by name, with its next fire time and last job."""

    def __init__(self, store: ScheduleStore) -> None:
        self._store = store

    async def __call__(self) -> list[Schedule]:
        return await self._store.list_schedules()
