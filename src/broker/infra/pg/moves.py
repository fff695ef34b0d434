"""The entities' moves and lease fence in SQL: the guards, new states and event rows of the
statements in sql.py, rendered from broker.entities.job.MOVES and broker.entities.lease.fence when
sql.py is imported. A change to a move is then a change to the statements.

States are written into the SQL text as literals, never passed as parameters: the pool's
generic plans (pool.PLANNING) can use the partial indexes on `state = 'pending'` and
`state = 'running'` only for a literal state."""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.job import JobState, Move
from broker.entities.lease import Fence

# What every statement that moves jobs returns last: the event it wrote for the row's job (NULLs
# where it wrote none), read by rows.events. Each such row begins with the job's id, queue and kind.
EVENT_TAIL = ("from_state", "to_state", "reason", "attempt", "worker_id", "error", "waited", "ran")


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def among(column: str, states: tuple[JobState, ...]) -> str:
    """`column` is one of `states` (none: never)."""
    if not states:
        return "false"
    if len(states) == 1:
        return f"{column} = {literal(states[0].value)}"
    return f"{column} IN ({', '.join(literal(s.value) for s in states)})"


def target(move: Move) -> str:
    """The one state a move leads to, for the statements that set it."""
    return _one(move.targets, move, "leads to")


def held(fence: Fence, job: str = "j", ref: str = "refs") -> str:
    """entities.lease.holds as a join condition: the job row `job` is the one the row `ref` (its
    `id` and presented `token`) names, in one of the fence's held states under that token."""
    return (f"{job}.id = {ref}.id AND {job}.lease_token::text = {ref}.token"
            f" AND {among(job + '.state', fence.held)}")


def seconds_since(then: str, now: str) -> str:
    """Seconds from `then` to `now`, never negative; NULL when `then` is."""
    return f"CASE WHEN {then} < {now} THEN extract(epoch FROM {now} - {then})::float8 WHEN {then} IS NOT NULL THEN 0 END"


@dataclass(frozen=True)
class EventRow:
    """The event a statement writes for each job it moves, as SQL over a relation of its rows
    (`{r}` in an expression stands for it). `insert` writes it into the log from the moved rows;
    `returned` gives the same values, from the statement's result relation, as its last columns
    (EVENT_TAIL): both relations name the columns the expressions read alike."""

    move: Move
    from_state: str | None = None  # the old state, for a move that leaves several
    to_state: str | None = None  # the new state, for a move that leads to several
    attempt: str = "{r}.attempt"
    worker_id: str = "{r}.worker_id"
    error: str = "NULL"
    waited: str = "NULL"  # seconds: not in the log, they travel with the change (metrics)
    ran: str = "NULL"
    extra: tuple[tuple[str, str], ...] = ()  # more columns of the log: (column, expression)

    def _logged(self, r: str) -> list[str]:
        move = self.move
        old = "NULL" if not move.sources else self.from_state or _one(move.sources, move, "leaves")
        new = self.to_state or target(move)
        values = [old, new, literal(move.reason.value), self.attempt, self.worker_id, self.error]
        return [v.format(r=r) for v in values]

    def insert(self, r: str, at: str, where: str = "") -> str:
        """Write one event per row of `r` (each row a job's id and queue, and what it reads),
        or per row where `where` holds."""
        columns = "".join(f", {c}" for c, _ in self.extra)
        values = "".join(f", {v.format(r=r)}" for _, v in self.extra)
        return (f"INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, error{columns}, at)\n"
                f"    SELECT {r}.id, {r}.queue, {', '.join(self._logged(r))}{values}, {at} FROM {r}"
                + (f" WHERE {where}" if where else ""))

    def returned(self, r: str, when: str | None = None) -> str:
        """The EVENT_TAIL columns over `r`, NULL for the rows where `when` is false."""
        values = self._logged(r) + [self.waited.format(r=r), self.ran.format(r=r)]
        if when:
            values = [v if v == "NULL" else f"CASE WHEN {when} THEN {v} END" for v in values]
        return ",\n    ".join(f"{v} AS {name}" for v, name in zip(values, EVENT_TAIL))


def _one(states: tuple[JobState, ...], move: Move, verb: str) -> str:
    if len(states) != 1:
        raise ValueError(f"the {move.reason.value} statement writes one state where the move {verb} "
                         f"{', '.join(map(str, states)) or 'none'}: give it the state as an expression")
    return literal(states[0].value)
