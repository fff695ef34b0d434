"""CancelJob: one pending or running job cancelled."""

from __future__ import annotations

from broker.entities.errors import IllegalTransition, JobNotFound
from broker.entities.job import Job, JobState, check_job_id
from broker.usecases.ports import Clock, EventSink, JobStore


class CancelJob:
    """PENDING or RUNNING -> CANCELLED; a running job's worker learns it at its next heartbeat."""

    def __init__(self, store: JobStore, clock: Clock, events: EventSink) -> None:
        self._store, self._clock, self._events = store, clock, events

    async def __call__(self, job_id: str) -> Job:
        job_id = check_job_id(job_id, "job_id")
        job, events = await self._store.cancel(job_id, self._clock.now())
        if job is None:
            raise JobNotFound(job_id)
        if not events and job.state is not JobState.CANCELLED:
            raise IllegalTransition(job_id, job.state, JobState.CANCELLED)
        self._events.record(events)
        return job
