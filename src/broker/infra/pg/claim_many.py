"""The claim for several Lease calls at once (usecases/claim_coalesce.py), and the release of
jobs leased for a call that was gone before it got them.

`many(statement)` turns a claim statement of one caller ($4 its worker id, $5 its lease duration)
into one that leases each job for its own slot: $4 and $5 become arrays, one entry per job the
batch may take (the first caller's limit of entries, then the next caller's...), and the n-th job
in lease order (priority, run_at, id: the order the statement returns its rows in) is written
with the n-th slot's worker id and lease duration, in its row and in its lease event. Which jobs
are picked, and every flow control, is the statement's own text, unchanged: only who gets each
job differs. Every job still gets its own fresh token (gen_random_uuid per row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from broker.entities.job import MOVES, Reason
from broker.entities.lease import fence
from broker.infra.pg.moves import EventRow, held, target
from broker.infra.pg.sql import _WAKE

_SLOTS = """, slots AS (
    -- The n-th picked job in lease order is the n-th slot's: its caller's worker id and lease.
    SELECT p.id, s.worker, s.secs
    FROM (SELECT id, row_number() OVER (ORDER BY priority, run_at, id) AS n FROM picked) p
    JOIN unnest($4::text[], $5::float8[]) WITH ORDINALITY AS s(worker, secs, n) ON s.n = p.n
), leased AS ("""

_EDITS = (
    (", leased AS (", _SLOTS),
    ("coalesce($5, j.lease_duration)", "coalesce(s.secs, j.lease_duration)"),
    ("worker_id = $4,", "worker_id = s.worker,"),
    # Still reached through the primary key by `= ANY(ARRAY(...))` (sql.LEASE_PICKED says why);
    # the join to `slots` then only pairs each leased row with its slot.
    ("WHERE j.id = ANY(ARRAY(SELECT id FROM picked))",
     "FROM slots s WHERE j.id = ANY(ARRAY(SELECT id FROM picked)) AND s.id = j.id"),
)


def many(statement: str) -> str:
    """The statement with one worker id and lease duration per slot (the module's docstring)."""
    if statement.count("$4") != 1 or statement.count("$5") != 1:
        raise ValueError("claim_many: $4 and $5 must appear once each, in sql.LEASE_PICKED")
    for old, new in _EDITS:
        if statement.count(old) != 1:
            raise ValueError(f"claim_many: sql.LEASE_PICKED changed ({old!r} not found once)")
        statement = statement.replace(old, new)
    return statement


@dataclass(frozen=True, slots=True)
class One:
    """Who a claim leases for: one caller, the statements as they are."""

    worker_id: str
    lease_duration: float | None

    def statement(self, statement: str) -> str:
        return statement

    def args(self, taken: int) -> tuple:
        """$4 and $5 of a statement run after `taken` jobs were leased by this claim."""
        return self.worker_id, self.lease_duration


class Slots:
    """Who a claim leases for: several callers, one slot per job (the `many` statements)."""

    def __init__(self, workers: Sequence[str], durations: Sequence[float | None]) -> None:
        self._workers, self._durations = list(workers), list(durations)

    def statement(self, statement: str) -> str:
        rendered = _RENDERED.get(statement)
        if rendered is None:
            rendered = _RENDERED[statement] = many(statement)
        return rendered

    def args(self, taken: int) -> tuple:
        """The slots left after the `taken` jobs this claim's earlier statements leased."""
        return self._workers[taken:], self._durations[taken:]


# Each statement is rendered once, at its first coalesced claim (there are a handful).
_RENDERED: dict[str, str] = {}

_RELEASED = EventRow(MOVES[Reason.RELEASE])

# $1 ids, $2 the tokens they were leased with, $3 now. Back to PENDING at once with the attempt
# given back and run_at kept (the job keeps its place in line); the token is cleared like an
# expiry's, since no caller ever saw it. Waiting calls on every replica are woken. A job of a
# HALF_OPEN breaker's queue was one of its probes: the probe is given back (else the breaker would
# wait for an outcome that never comes); the row lock is taken after the jobs', and no claim waits
# for a job's lock while it holds a breaker's (SKIP LOCKED), so the two never deadlock.
RELEASE = f"""
WITH refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) AS r(id, token)
), changed AS (
    UPDATE broker_jobs j
    SET state = {target(MOVES[Reason.RELEASE])}, attempt = greatest(j.attempt - 1, 0), lease_token = NULL,
        lease_expires_at = NULL, updated_at = $3
    FROM refs WHERE {held(fence(Reason.RELEASE))}
    RETURNING j.id, j.queue, j.kind, j.attempt + 1 AS attempt, j.worker_id
), ev AS (
    {_RELEASED.insert("changed", "$3")}
), probes AS (
    UPDATE broker_queue_breakers b SET probes_leased = greatest(b.probes_leased - c.n, 0)
    FROM (SELECT queue, count(*) AS n FROM changed GROUP BY queue) c
    WHERE b.queue = c.queue AND b.state = 'half_open'
), woken AS (
    {_WAKE.format(ready="changed")}
)
SELECT id::text, queue, kind, (SELECT count(*) FROM woken) AS woken, {_RELEASED.returned("changed")}
FROM changed
"""
