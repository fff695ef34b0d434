"""ListJobs: jobs by queue and state, in pages."""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.job import Job, JobState
from broker.entities.queue import Limits
from broker.usecases.paging import PageTokens
from broker.usecases.ports import JobStore


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
