"""ListJobs: jobs by queue, kind, state (as operators see it) or id and idempotency key, in pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from broker.entities.errors import InvalidArgument
from broker.entities.job import Job, check_storable
from broker.entities.job_view import JobFilter
from broker.entities.queue import Limits
from broker.usecases.paging import PageTokens
from broker.usecases.ports import Clock, JobStore

# A listing's total is counted up to this many jobs; past it the page says so (`total_capped`).
TOTAL_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    next_token: str
    at: datetime | None = None  # the time the views (ready, scheduled, retrying) were judged at
    total: int | None = None  # the jobs matching the filter, up to TOTAL_CAP (None: not counted)
    total_capped: bool = False  # there are more than `total`


class ListJobs:
    """Jobs matching a filter, newest first, in pages. A page comes with a token for the next
    one only when there is a next one (the store is asked for one job more than the page); a
    token continues only the listing (the same filters) it came from."""

    def __init__(self, store: JobStore, limits: Limits, tokens: PageTokens, clock: Clock) -> None:
        self._store, self._limits, self._tokens, self._clock = store, limits, tokens, clock

    async def __call__(self, where: JobFilter, page_size: int, page_token: str = "", *,
                       count: bool = False, size_field: str = "page_size") -> Page:
        """`count`: with the total of jobs matching (up to TOTAL_CAP)."""
        self._check(where)
        size = page_size or self._limits.default_page_size
        self._limits.check_batch(size, size_field)
        after = self._tokens.read(where.key, page_token)
        now = self._clock.now()
        jobs = await self._store.list_jobs(where, size + 1, after, now)
        total = await self._store.count_jobs(where, TOTAL_CAP + 1, now) if count else None
        capped = total is not None and total > TOTAL_CAP
        total = min(total, TOTAL_CAP) if total is not None else None
        if len(jobs) <= size:
            return Page(jobs, "", now, total, capped)
        jobs = jobs[:size]
        return Page(jobs, self._tokens.issue(where.key, jobs[-1].created_at, jobs[-1].id), now, total, capped)

    def _check(self, where: JobFilter) -> None:
        if where.queue is not None:
            self._limits.check_queue_name(where.queue)
        if where.kind is not None:
            _check_text(where.kind, "kind", self._limits.max_kind_length)
        if where.search is not None:
            _check_text(where.search, "q", max(self._limits.max_key_length, 36))


def _check_text(value: str, field_name: str, most: int) -> None:
    check_storable(value, field_name)
    if len(value) > most:
        raise InvalidArgument(field_name, f"is {len(value)} characters; at most {most}")
