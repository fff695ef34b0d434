"""The states an operator sees (PENDING split into ready, scheduled and retrying, as Stats counts
them) and what a listing of jobs asks for."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from broker.entities.errors import InvalidArgument
from broker.entities.job import Job, JobState, check_job_id


class JobView(enum.Enum):
    """A job's state as the dashboard shows it: a PENDING job is ready when its run_at has come,
    else scheduled (never attempted) or retrying (waiting out a backoff). No state is written
    for the split: it is read from run_at and attempt at the time of asking."""

    READY = "ready"
    SCHEDULED = "scheduled"
    RETRYING = "retrying"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def state(self) -> JobState:
        return _STATE[self]


_PENDING_VIEWS = (JobView.READY, JobView.SCHEDULED, JobView.RETRYING)
_STATE = {**{v: JobState.PENDING for v in _PENDING_VIEWS},
          **{v: JobState(v.value) for v in JobView if v not in _PENDING_VIEWS}}


def view_of(job: Job, now: datetime) -> JobView:
    """The view of `job` at `now` (the split of PENDING as Stats makes it)."""
    if job.state is not JobState.PENDING:
        return JobView(job.state.value)
    if job.run_at <= now:
        return JobView.READY
    return JobView.SCHEDULED if job.attempt == 0 else JobView.RETRYING


def views_of(state: JobState) -> frozenset[JobView]:
    """Every view of a job in `state`."""
    return frozenset(v for v in JobView if v.state is state)


def parse_view(value: str, field_name: str = "state") -> JobView | None:
    """A view by its name; "" is None (any). InvalidArgument naming the field otherwise."""
    if not value:
        return None
    try:
        return JobView(value)
    except ValueError:
        names = "|".join(v.value for v in JobView)
        raise InvalidArgument(field_name, f"{value[:40]!r} is not one of {names}") from None


@dataclass(frozen=True, slots=True)
class JobFilter:
    """The jobs a listing asks for; every field given must match (None, or no views: any).
    `search` is a job's exact id or its exact idempotency key (in any queue)."""

    queue: str | None = None
    kind: str | None = None
    views: frozenset[JobView] = frozenset()
    search: str | None = None

    def matches(self, job: Job, now: datetime) -> bool:
        return ((self.queue is None or job.queue == self.queue) and (self.kind is None or job.kind == self.kind)
                and (not self.views or view_of(job, now) in self.views)
                and (self.search is None or job.idempotency_key == self.search or job.id == self.search_id))

    @property
    def search_id(self) -> str | None:
        """The job id `search` names, when it has the shape of one (ids are UUIDs)."""
        try:
            return check_job_id(self.search, "q") if self.search else None
        except InvalidArgument:
            return None

    def by_state(self) -> list[tuple[JobState, frozenset[JobView] | None]]:
        """The states a store reads, each with the views of it asked for (None: all of them), in
        the order of JobState."""
        asked = self.views or frozenset(JobView)
        found = []
        for state in JobState:
            views = asked & views_of(state)
            if views:
                found.append((state, None if views == views_of(state) else views))
        return found

    @property
    def key(self) -> str:
        """The filters as a page token's listing binds them (the same filters, the same key)."""
        views = ",".join(sorted(v.value for v in self.views))
        return "\0".join((self.queue or "", self.kind or "", views, self.search or ""))
