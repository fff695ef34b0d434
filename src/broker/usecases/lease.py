"""Lease: hand ready jobs to a worker, waiting for work when asked to (long poll)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from broker.entities.errors import InvalidArgument
from broker.entities.job import Job, check_storable
from broker.entities.queue import Limits, check_not_internal
from broker.usecases.claim_coalesce import Claim
from broker.usecases.context import time_left
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier
from broker.usecases.workers.registry import WorkerRegistry

# While long-polling, look again this often even without a wake-up (BROKER_LONG_POLL_RECHECK):
# nothing notifies when a delayed job's or a retry's run_at arrives, so this bounds how late a
# waiting call sees it. Jobs that become ready now (enqueue, a retry due at once, a reaped lease
# retried at once, a redrive) wake waiting calls on every replica through the notifier.
RECHECK_SECONDS = 0.5
# A long poll ends this much before the caller's deadline (at most a tenth of the time left),
# so the caller gets its (empty) answer instead of DEADLINE_EXCEEDED and no job is claimed for a
# call that is about to be cancelled.
EARLY_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    queues: tuple[str, ...]
    worker_id: str
    max_jobs: int
    lease_duration: float | None = None
    wait: float = 0.0


class LeaseJobs:
    """Leases up to max_jobs ready jobs; each comes with a fresh token, attempt and deadline."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 limits: Limits, recheck: float = RECHECK_SECONDS, workers: WorkerRegistry | None = None,
                 claim: Claim | None = None) -> None:
        """`workers` hears of each call and of the end of each long poll (the dashboard's workers);
        `claim` takes the jobs (a ClaimCoalescer around the store, claim_coalesce.py), the store's
        own claim when not given."""
        self._clock, self._notifier, self._events = clock, notifier, events
        self._limits, self._recheck, self._workers = limits, recheck, workers
        self._claim = claim or store.claim

    async def __call__(self, req: LeaseRequest) -> list[Job]:
        """A long poll ends early enough for the call's deadline (broker.usecases.context)."""
        self._validate(req)
        queues = list(dict.fromkeys(req.queues))
        if self._workers is None:
            return await self._lease(req, queues)
        waiting = req.wait > 0
        self._workers.called(req.worker_id, queues, self._clock.now(), waiting)
        try:
            return await self._lease(req, queues)
        finally:
            if waiting:
                self._workers.poll_ended(req.worker_id, queues)

    async def _lease(self, req: LeaseRequest, queues: list[str]) -> list[Job]:
        wait = req.wait
        respond_within = time_left()  # seconds until the caller stops waiting for the answer
        if respond_within is not None:
            left = max(0.0, respond_within)
            wait = min(wait, left - min(EARLY_SECONDS, left / 10))
        # In datetimes, exact to the microsecond: float seconds left a remainder below a
        # microsecond that a clock moved by tests could never pass (a loop without end).
        deadline = self._clock.now() + timedelta(seconds=max(wait, 0.0))
        while not self._notifier.closed:
            jobs, events = await self._claim(queues, req.worker_id, req.max_jobs,
                                             req.lease_duration, self._clock.now())
            if jobs:
                self._events.record(events)
                if len(jobs) >= req.max_jobs:
                    # A full batch: more may be ready. A notification wakes one waiting call,
                    # so pass it on to the next (a no-op when none waits).
                    self._notifier.notify(queues)
                return jobs
            remaining = (deadline - self._clock.now()).total_seconds()
            if remaining <= 0:
                break
            await self._notifier.wait(queues, min(remaining, self._recheck))
        return []

    def _validate(self, req: LeaseRequest) -> None:
        limits = self._limits
        if not req.queues:
            raise InvalidArgument("queues", "name at least one queue")
        limits.check_queue_names(req.queues)
        for i, name in enumerate(req.queues):
            check_not_internal(name, f"queues[{i}]")
        if not req.worker_id or len(req.worker_id) > limits.max_worker_id_length:
            raise InvalidArgument("worker_id", f"must be 1-{limits.max_worker_id_length} characters")
        check_storable(req.worker_id, "worker_id")
        limits.check_batch(req.max_jobs, "max_jobs")
        if req.lease_duration is not None:
            limits.check_lease_duration(req.lease_duration, "lease_duration")
        if not 0 <= req.wait <= limits.max_wait:
            raise InvalidArgument("wait", f"{req.wait:g}s is outside 0s to {limits.max_wait:g}s")
