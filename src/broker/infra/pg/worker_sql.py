"""The statements of a worker's Snooze and of a Heartbeat that carries progress, built like the
lease calls of sql.py (the refs, the fenced change, its event rows, the outcome per ref); their
guards, states and event rows come from the entities' moves and lease fence (moves.py)."""

from broker.entities.job import MOVES, JobState, Reason
from broker.entities.lease import fence
from broker.infra.pg.moves import EventRow, held, literal, seconds_since, target
from broker.infra.pg.sql import _WAKE, _outcome

_SNOOZED = EventRow(MOVES[Reason.SNOOZE], ran=seconds_since("{r}.leased_at", "$4::timestamptz"))
_PENDING = literal(JobState.PENDING.value)

# Snooze: $1 ids, $2 tokens, $3 each ref's new run_at, $4 now. The lease's attempt is given back
# (the event keeps the attempt that snoozed); the token stays, so a repeat finds its job PENDING
# under it (entities.lease.classify).
SNOOZE = f"""
WITH refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS r(id, token, next_run_at, ord)
), changed AS (
    UPDATE broker_jobs j
    SET state = {target(MOVES[Reason.SNOOZE])}, run_at = refs.next_run_at, attempt = greatest(j.attempt - 1, 0),
        snoozes = j.snoozes + 1, lease_expires_at = NULL, updated_at = $4
    -- A lease named twice in one call: the first naming's delay.
    FROM (SELECT DISTINCT ON (id, token) * FROM refs ORDER BY id, token, ord) refs WHERE {held(fence(Reason.SNOOZE))}
    RETURNING j.id, refs.token, j.queue, j.kind, j.attempt + 1 AS attempt, j.worker_id, j.run_at, j.leased_at
), ev AS (
    {_SNOOZED.insert("changed", "$4")}
), woken AS (
    {_WAKE.format(ready="changed WHERE run_at <= $4")}
)
{_outcome(f"CASE WHEN o.changed THEN {target(MOVES[Reason.SNOOZE])} ELSE o.state END",
          "CASE WHEN o.changed THEN o.next_run_at END", refs=", refs.next_run_at",
          tail=", (SELECT count(*) FROM woken) AS woken, " + _SNOOZED.returned("o", "o.changed"))}
"""

_PROGRESSED = EventRow(MOVES[Reason.PROGRESS], extra=(("progress", "{r}.progress"),
                                                      ("progress_message", "{r}.message")))
_DEADLINE = "$3::timestamptz + make_interval(secs => coalesce($4::float8, {j}.lease_duration))"

# Heartbeat with progress: $1 ids, $2 tokens, $3 now, $4 the lease duration (NULL: each job's),
# $5 each ref's fraction (NULL: no progress), $6 its message. The held rows are locked first, so
# the progress compared is the job's latest: two heartbeats racing with one progress write one
# event. A progress equal to the job's writes none (`moved`).
EXTEND_PROGRESS = f"""
WITH refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $5::float8[], $6::text[]) WITH ORDINALITY
        AS r(id, token, progress, message, ord)
), old AS (
    SELECT j.id, j.progress, j.progress_message FROM broker_jobs j JOIN refs ON {held(fence(None))} FOR UPDATE OF j
), given AS (
    SELECT DISTINCT ON (refs.id, refs.token) refs.*, refs.progress IS NOT NULL AND (old.progress IS DISTINCT FROM
        refs.progress OR old.progress_message IS DISTINCT FROM refs.message) AS moved
    -- A lease named twice: its first naming with progress.
    FROM refs JOIN old ON old.id = refs.id ORDER BY refs.id, refs.token, refs.progress IS NULL, refs.ord
), changed AS (
    UPDATE broker_jobs j
    SET lease_expires_at = {_DEADLINE.format(j="j")}, heartbeat_at = $3, progress = coalesce(g.progress, j.progress),
        progress_message = CASE WHEN g.progress IS NULL THEN j.progress_message ELSE g.message END,
        progress_at = CASE WHEN g.moved THEN $3 ELSE j.progress_at END
    FROM given g WHERE {held(fence(None), ref="g")}
    RETURNING j.id, g.token, j.queue, j.attempt, j.worker_id, g.moved, g.progress, g.message
), ev AS (
    {_PROGRESSED.insert("changed", "$3", where="changed.moved")}
)
{_outcome("o.state", f"CASE WHEN o.changed THEN {_DEADLINE.format(j='o')} END",
          tail=", " + _PROGRESSED.returned("o", "o.id IN (SELECT id FROM changed WHERE moved) AND o.changed"))}
"""
