"""The operators' read operations: one job with its history, job lists, stats, workers."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from broker.entities.errors import InvalidArgument, JobNotFound
from broker.entities.job import Event, Job, JobState, check_job_id
from broker.entities.queue import Limits, check_queue_name
from broker.entities.stats import QueueStats, WorkerLeases
from broker.usecases.overview import ReadOverview
from broker.usecases.ports import JobStore


class GetJob:
    """The job and its event history, oldest first."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def __call__(self, job_id: str) -> tuple[Job, list[Event]]:
        job_id = check_job_id(job_id, "job_id")
        job = await self._store.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job, await self._store.history(job_id)


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    next_token: str


class ListJobs:
    """Jobs by queue and state, newest first, in pages."""

    def __init__(self, store: JobStore, limits: Limits) -> None:
        self._store, self._limits = store, limits

    async def __call__(self, queue: str | None, state: JobState | None, page_size: int,
                       page_token: str = "") -> Page:
        if queue:
            check_queue_name(queue)
        size = page_size or 100
        self._limits.check_batch(size, "page_size")
        jobs = await self._store.list_jobs(queue or None, state, size, _decode(page_token))
        more = len(jobs) == size
        return Page(jobs, _encode(jobs[-1].created_at, jobs[-1].id) if more else "")


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


def _encode(created_at: datetime | None, job_id: str) -> str:
    raw = f"{created_at.isoformat() if created_at else ''}|{job_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        stamp, job_id = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), check_job_id(job_id, "page_token")
    except (ValueError, UnicodeDecodeError, InvalidArgument):
        raise InvalidArgument("page_token", "is not a token from a previous response") from None
