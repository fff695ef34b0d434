"""The operators' write operations: redrive, cancel, purge."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.errors import IllegalTransition, InvalidArgument, JobNotFound
from broker.entities.job import Job, JobState, check_job_id
from broker.entities.queue import Limits
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier


def _targets(job_ids: Sequence[str], queue: str | None, limits: Limits) -> list[str]:
    if bool(job_ids) == bool(queue):
        raise InvalidArgument("job_ids", "give either job_ids or a queue, not both or neither")
    if queue:
        limits.check_queue_name(queue)
        return []
    limits.check_batch(len(job_ids), "job_ids")
    return [check_job_id(j, f"job_ids[{i}]") for i, j in enumerate(job_ids)]


class RedriveJobs:
    """DEAD -> PENDING, ready now; by default with a fresh set of attempts."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 limits: Limits) -> None:
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events
        self._limits = limits

    async def __call__(self, job_ids: Sequence[str], queue: str | None, reset_attempts: bool = True) -> list[str]:
        ids = _targets(job_ids, queue, self._limits)
        redriven, events = await self._store.redrive(ids, queue or None, reset_attempts, self._clock.now())
        self._events.record(events)
        if events:
            self._notifier.notify(sorted({e.queue for e in events}))
        return redriven


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


class PurgeJobs:
    """Deletes finished jobs (DEAD by default) with their history."""

    def __init__(self, store: JobStore, limits: Limits) -> None:
        self._store, self._limits = store, limits

    async def __call__(self, job_ids: Sequence[str], queue: str | None,
                       state: JobState | None = None) -> int:
        ids = _targets(job_ids, queue, self._limits)
        state = state or JobState.DEAD
        if not state.finished:
            raise InvalidArgument("state", f"only finished jobs can be purged, not {state}")
        return await self._store.purge(ids, queue or None, state)
