"""ListJobs' statements, written for the filters given (entities.job_view.JobFilter), so that each
reads `broker_jobs_listing` (queue, state, created_at DESC, id DESC) in its order instead of
sorting a big table, and no index more is written on every state change:

- per queue (the one asked for, or each queue there is, found by a skip scan of that index: one
  probe per queue) and per state asked for (none: every state), the newest jobs up to the
  page's end, merged; a page reads at most queues x states x page rows;
- a search (an exact id, or an idempotency key): the primary key, and the unique key index
  probed once for each queue that holds keyed jobs (found by a skip scan of that index).

A kind, or a split of PENDING (ready, scheduled, retrying), filters the rows read in that order.
The counts read the same conditions up to the cap and stop there. States are SQL literals (the
partial indexes need them; moves.py says why); everything else is a parameter."""

from __future__ import annotations

from datetime import datetime

from broker.entities.job_view import JobFilter, JobView
from broker.infra.pg.moves import literal
from broker.infra.pg.sql import JOB_COLUMNS

_ORDER = "ORDER BY created_at DESC, id DESC"


class _Params:
    """The statement's parameters, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list = []

    def __call__(self, value, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def list_jobs(where: JobFilter, limit: int, after: tuple[datetime, str] | None,
              now: datetime) -> tuple[str, list]:
    """The statement and its arguments: at most `limit` jobs, newest first, after `after`."""
    p = _Params()
    queue = p(where.queue) if where.queue is not None else None
    found, common = _common(where, p, queue)
    if after is not None:
        common.append(f"(created_at, id) < ({p(after[0], '::timestamptz')}, {p(after[1], '::uuid')})")
    n = p(limit)
    branches = _branches(where, p, now, each_state=where.search is None)
    if where.search is not None:  # a few rows at most: no order to follow
        common += [f"queue = {queue}"] if queue else []
        return f"{found}SELECT {JOB_COLUMNS} FROM broker_jobs {_where(common, _any(branches))} {_order(n)}", p.values
    found, source = (_QUEUES, "queues q") if queue is None else ("", f"(SELECT {queue}::text AS name) q")
    parts = " UNION ALL ".join(f"(SELECT * FROM broker_jobs {_where(['queue = q.name', *common], b)} {_order(n)})"
                               for b in branches)
    return (f"{found}SELECT {JOB_COLUMNS} FROM {source} CROSS JOIN LATERAL ({parts}) broker_jobs {_order(n)}",
            p.values)


# Each queue that has jobs: a skip scan of broker_jobs_listing, one probe per queue.
_QUEUES = """WITH RECURSIVE queues(name) AS (
    (SELECT queue FROM broker_jobs ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT queue FROM broker_jobs WHERE queue > q.name ORDER BY queue LIMIT 1) FROM queues q
    WHERE q.name IS NOT NULL
)
"""


def count_jobs(where: JobFilter, cap: int, now: datetime) -> tuple[str, list]:
    """The statement counting the jobs `where` matches, up to `cap`."""
    p = _Params()
    queue = p(where.queue) if where.queue is not None else None
    found, common = _common(where, p, queue)
    common += [f"queue = {queue}"] if queue else []
    condition = _where(common, _any(_branches(where, p, now)))
    return f"{found}SELECT count(*) FROM (SELECT 1 FROM broker_jobs {condition} LIMIT {p(cap)}) c", p.values


def _common(where: JobFilter, p: _Params, queue: str | None) -> tuple[str, list[str]]:
    """The CTEs of a search ('' without one) and the conditions every state and queue shares."""
    conditions = [f"kind = {p(where.kind)}"] if where.kind is not None else []
    if where.search is None:
        return "", conditions
    return _found(where, p, queue), conditions + ["id IN (SELECT id FROM found)"]


def _found(where: JobFilter, p: _Params, queue: str | None) -> str:
    """The ids a search names: the job of that id, and the jobs with that idempotency key."""
    key = p(where.search)
    by_id = f" UNION SELECT {p(where.search_id, '::uuid')}" if where.search_id else ""
    if queue is not None:
        return f"WITH found AS (SELECT id FROM broker_jobs WHERE queue = {queue} AND idempotency_key = {key}{by_id})\n"
    # A skip scan of broker_jobs_idempotency: each queue that holds keyed jobs, one probe each.
    return f"""WITH RECURSIVE keyed(name) AS (
    (SELECT queue FROM broker_jobs WHERE idempotency_key IS NOT NULL ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT queue FROM broker_jobs WHERE idempotency_key IS NOT NULL AND queue > k.name ORDER BY queue LIMIT 1)
    FROM keyed k WHERE k.name IS NOT NULL
), found AS (
    SELECT j.id FROM keyed k JOIN broker_jobs j ON j.queue = k.name AND j.idempotency_key = {key}{by_id}
)
"""


def _branches(where: JobFilter, p: _Params, now: datetime, each_state: bool = False) -> list[str]:
    """One condition per state read; for every state, '' (no state filter) unless `each_state`
    (a read in created_at order: the index has it per state)."""
    if not where.views and not each_state:
        return [""]
    branches, at = [], None
    for state, views in where.by_state():
        condition = f"state = {literal(state.value)}"
        if views is not None:  # some of PENDING's views: their split by run_at and attempt
            at = at or p(now, "::timestamptz")
            condition += f" AND ({' OR '.join(_split(v, at) for v in sorted(views, key=lambda v: v.value))})"
        branches.append(condition)
    return branches


def _split(view: JobView, at: str) -> str:
    """A view of PENDING jobs as Stats counts it (queries.STATS_STATES)."""
    if view is JobView.READY:
        return f"run_at <= {at}"
    return f"(run_at > {at} AND attempt {'=' if view is JobView.SCHEDULED else '>'} 0)"


def _any(branches: list[str]) -> str:
    return " OR ".join(f"({b})" for b in branches) if len(branches) > 1 else branches[0]


def _where(common: list[str], branch: str) -> str:
    conditions = [c for c in (*common, branch) if c]
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _order(limit: str) -> str:
    return f"{_ORDER} LIMIT {limit}"
