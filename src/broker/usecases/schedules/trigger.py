"""TriggerSchedule: run a schedule's job now, by hand."""

from __future__ import annotations

from broker.entities.schedule import check_name
from broker.entities.errors import ScheduleNotFound
from broker.entities.schedule import Schedule
from broker.usecases.enqueue import Enqueue
from broker.usecases.ports import Clock
from broker.usecases.schedules.define import job_spec
from broker.usecases.schedules.ports import ScheduleStore


class TriggerSchedule:
    """Enqueues the schedule's job once now, paused or not; its fire times stay as they were.
    Returns the job id and the schedule."""

    def __init__(self, store: ScheduleStore, clock: Clock, enqueue: Enqueue) -> None:
        self._store, self._clock, self._enqueue = store, clock, enqueue

    async def __call__(self, name: str) -> tuple[str, Schedule]:
        check_name(name)  # a name no schedule can have is bad input, not a lookup
        found = await self._store.get(name)
        if found is None:
            raise ScheduleNotFound(name)
        (inserted,) = await self._enqueue([job_spec(found.definition.job)], batch=False)
        updated = await self._store.record_trigger(name, inserted.job_id, self._clock.now())
        return inserted.job_id, updated or found
