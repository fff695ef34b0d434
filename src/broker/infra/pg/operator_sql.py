"""The statement of an operator's "retry now" on a pending job, built like the redrive and the
cancel of sql.py: its guard, new state and event row come from the RETRY_NOW move (moves.py)."""

from broker.entities.job import MOVES, Reason
from broker.infra.pg.moves import EventRow, among, target
from broker.infra.pg.sql import _WAKE

# The old state is read under the row lock: the event says which state the job left.
_RETRIED = EventRow(MOVES[Reason.RETRY_NOW], from_state="{r}.from_state", worker_id="NULL")

# $1 the job's id, $2 now. Only a job whose run_at is still to come: a ready job has nothing to
# gain (and no event to write). The job is ready at once, so its queue's long polls wake on
# every replica (`woken`, read by the final SELECT so that PostgreSQL runs the CTE).
RETRY_NOW = f"""
WITH old AS (
    SELECT id, state FROM broker_jobs WHERE id = $1::uuid FOR UPDATE
), changed AS (
    UPDATE broker_jobs j
    SET state = {target(MOVES[Reason.RETRY_NOW])}, run_at = $2, updated_at = $2
    FROM old WHERE j.id = old.id AND {among("old.state", MOVES[Reason.RETRY_NOW].sources)} AND j.run_at > $2
    RETURNING j.id, j.queue, j.kind, j.attempt, old.state AS from_state
), ev AS (
    {_RETRIED.insert("changed", "$2")}
), woken AS (
    {_WAKE.format(ready="changed")}
)
SELECT id::text, queue, kind, (SELECT count(*) FROM woken) AS woken, {_RETRIED.returned("changed")}
FROM changed
"""
