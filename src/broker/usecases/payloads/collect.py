"""The payload collector: deletes objects whose jobs were purged or pruned, and uploads that no
job came to reference before they expired. Never an object a job still references (the record
store takes only those, atomically)."""

from __future__ import annotations

import logging

from broker.usecases.payloads.ports import NoPayloadEvents, ObjectStorage, PayloadEvents, UploadRecords
from broker.usecases.ports import Clock

log = logging.getLogger("broker.payloads")


class CollectPayloads:
    def __init__(self, storage: ObjectStorage, records: UploadRecords, clock: Clock, batch: int = 500,
                 events: PayloadEvents = NoPayloadEvents()) -> None:
        self._storage, self._records, self._clock, self._batch = storage, records, clock, batch
        self._events = events

    async def run_once(self) -> int:
        """Objects deleted in this pass (a full pass means more may be waiting)."""
        keys = await self._records.take_collectable(self._clock.now(), self._batch)
        if not keys:
            return 0
        try:
            await self._storage.delete(keys)
        except Exception:
            # Put them back: the next pass tries again (an object left behind costs space only).
            await self._records.expire_now(keys)
            raise
        log.info("payload objects deleted", extra={"objects": len(keys)})
        self._events.objects("deleted", len(keys))
        return len(keys)
