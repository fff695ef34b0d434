"""ApplyDeclared: the schedules file is the desired state of the schedules it declares."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from broker.entities.errors import InvalidArgument
from broker.entities.schedule import Schedule, ScheduleDefinition
from broker.usecases.ports import Clock
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.ports import Declared, ScheduleStore

log = logging.getLogger("broker.schedules")


class ApplyDeclared:
    """Creates the schedules the file declares, redefines those that changed, deletes the ones
    it declared before and names no more; API-made schedules it does not name stay. The same
    file applied again changes nothing, so replicas starting together agree. One bad entry
    refuses the whole file (InvalidArgument naming `schedules[i].field`) and changes nothing."""

    def __init__(self, store: ScheduleStore, clock: Clock, definitions: Definitions) -> None:
        self._store, self._clock, self._definitions = store, clock, definitions

    async def __call__(self, definitions: Sequence[ScheduleDefinition]) -> Declared:
        now = self._clock.now()
        schedules, seen = [], set()
        for i, d in enumerate(definitions):
            first = self._definitions.check(d, now, f"schedules[{i}].")
            if d.name in seen:
                raise InvalidArgument(f"schedules[{i}].name", f"{d.name!r} is declared twice")
            seen.add(d.name)
            schedules.append(Schedule(d, first, declared=True))
        changes = await self._store.apply_declared(schedules, now)
        if changes.created or changes.updated or changes.deleted:
            log.info("schedules file applied", extra={"created": changes.created, "updated": changes.updated,
                                                      "deleted": changes.deleted})
        return changes
