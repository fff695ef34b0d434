"""PurgeJobs: finished jobs deleted with their history."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState
from broker.entities.queue import Limits
from broker.usecases.ports import JobStore
from broker.usecases.targets import check_targets


class PurgeJobs:
    """Deletes finished jobs (DEAD by default) with their history."""

    def __init__(self, store: JobStore, limits: Limits) -> None:
        self._store, self._limits = store, limits

    async def __call__(self, job_ids: Sequence[str], queue: str | None,
                       state: JobState | None = None) -> int:
        ids = check_targets(job_ids, queue, self._limits)
        state = state or JobState.DEAD
        if not state.finished:
            raise InvalidArgument("state", f"only finished jobs can be purged, not {state}")
        return await self._store.purge(ids, queue or None, state)
