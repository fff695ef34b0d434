"""GetJob: one job with its history."""

from __future__ import annotations

from broker.entities.errors import JobNotFound
from broker.entities.job import Event, Job, check_job_id
from broker.usecases.ports import JobStore


class GetJob:
    """The job and its event history, oldest first, read from one snapshot."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def __call__(self, job_id: str) -> tuple[Job, list[Event]]:
        job_id = check_job_id(job_id, "job_id")
        job, history = await self._store.get_with_history(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job, history
