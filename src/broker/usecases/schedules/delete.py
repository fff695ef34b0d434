"""DeleteSchedule."""

from __future__ import annotations

from broker.entities.schedule import check_name
from broker.entities.errors import ScheduleNotFound
from broker.usecases.schedules.ports import ScheduleStore
from broker.usecases.schedules.update import check_not_declared


class DeleteSchedule:
    """Deletes a schedule (the jobs it enqueued stay). Schedules of the schedules file are
    deleted there."""

    def __init__(self, store: ScheduleStore) -> None:
        self._store = store

    async def __call__(self, name: str) -> None:
        check_name(name)  # a name no schedule can have is bad input, not a lookup
        check_not_declared(await self._store.get(name), name, "delete")
        if not await self._store.delete(name):
            raise ScheduleNotFound(name)
