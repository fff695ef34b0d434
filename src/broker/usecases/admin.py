"""The operators' read operations: one job with its history, job lists, stats, workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.entities.errors import JobNotFound
from broker.entities.job import Event, Job, JobState, check_job_id
from broker.entities.queue import Limits
from broker.entities.stats import QueueStats, WorkerLeases
from broker.usecases.overview import ReadOverview
from broker.usecases.paging import PageTokens
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


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    next_token: str


class ListJobs:
    """Jobs by queue and state, newest first, in pages. A page comes with a token for the next
    one only when there is a next one (the store is asked for one job more than the page)."""

    def __init__(self, store: JobStore, limits: Limits, tokens: PageTokens) -> None:
        self._store, self._limits, self._tokens = store, limits, tokens

    async def __call__(self, queue: str | None, state: JobState | None, page_size: int,
                       page_token: str = "") -> Page:
        if queue:
            self._limits.check_queue_name(queue)
        size = page_size or self._limits.default_page_size
        self._limits.check_batch(size, "page_size")
        listing = f"{queue or ''}|{state.value if state else ''}"
        after = self._tokens.read(listing, page_token)
        jobs = await self._store.list_jobs(queue or None, state, size + 1, after)
        if len(jobs) <= size:
            return Page(jobs, "")
        jobs = jobs[:size]
        return Page(jobs, self._tokens.issue(listing, jobs[-1].created_at, jobs[-1].id))


class Stats:
    """Per-queue counts, the oldest ready job's age, and rates over the last minute and hour;
    read through the shared overview so the RPC, /metrics and the dashboard agree."""

    def __init__(self, overview: ReadOverview, limits: Limits | None = None) -> None:
        self._overview, self._limits = overview, limits or Limits()

    async def __call__(self, queues: Sequence[str] = ()) -> list[QueueStats]:
        self._limits.check_queue_names(queues)
        wanted = set(queues)
        return [q for q in (await self._overview()).queues if not wanted or q.queue in wanted]


class Workers:
    """Who holds leases now, per queue, with their last heartbeat."""

    def __init__(self, overview: ReadOverview) -> None:
        self._overview = overview

    async def __call__(self) -> list[WorkerLeases]:
        return list((await self._overview()).workers)
