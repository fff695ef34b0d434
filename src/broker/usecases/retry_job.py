"""RetryJob: an operator's "retry now" of one job."""

from __future__ import annotations

from broker.entities.errors import FailedPrecondition, JobNotFound
from broker.entities.job import Event, Job, JobState, check_job_id
from broker.entities.job_view import view_of
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier


class RetryJob:
    """A DEAD job is redriven (ready now, with fresh attempts unless told otherwise); a PENDING
    job whose run_at is to come (scheduled, or a retry waiting out its backoff) becomes ready now
    (the RETRY_NOW move, its attempts as they were). Anything else is FailedPrecondition and
    changes nothing. Either way the queue's long polls wake, here and on every replica."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink) -> None:
        self._store, self._clock, self._notifier, self._events = store, clock, notifier, events

    async def __call__(self, job_id: str, reset_attempts: bool = True) -> Job:
        job_id = check_job_id(job_id, "job_id")
        now = self._clock.now()
        job = await self._store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        events: list[Event] = []
        if job.state is JobState.DEAD:
            _, events = await self._store.redrive([job_id], None, reset_attempts, now)
            job = (await self._store.get(job_id) or job) if events else job
        elif job.state is JobState.PENDING and job.run_at > now:
            found, events = await self._store.retry_now(job_id, now)
            job = found or job
        if not events:  # not retryable, or it moved on meanwhile (the moves are guarded)
            raise FailedPrecondition(
                f"job {job_id} is {view_of(job, now).value}: only a dead job, or a pending one whose "
                "run_at is still to come (scheduled or retrying), can be retried now",
                subject=f"jobs/{job_id}", violation_type="JOB_STATE", job_id=job_id)
        self._events.record(events)
        self._notifier.notify([job.queue])
        return job
