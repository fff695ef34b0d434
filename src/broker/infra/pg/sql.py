"""The statements that move jobs, one per operation (the reads and deletes are in queries.py).
$-parameters are positional; `now` is always a parameter so tests can move time. Their guards,
new states and event rows come from the entities' moves and lease fence (moves.py renders them).

Every statement that moves jobs returns rows that begin with the job's id, queue and kind and end
with the event it wrote (moves.EVENT_TAIL), which rows.events turns into Events."""

from broker.entities.job import MOVES, JobState, Reason
from broker.entities.lease import fence
from broker.infra.pg.controls import COUNTED
from broker.infra.pg.moves import EventRow, among, held, literal, seconds_since, target

# Headers come back NULL when empty: json.loads('{}') cost ~0.9 us per leased job.
JOB_COLUMNS = """id::text, queue, kind, payload, NULLIF(headers, '{}'::jsonb)::text, idempotency_key,
    priority, state, run_at, attempt, max_attempts, retry_initial, retry_max, retry_multiplier,
    retry_jitter, lease_duration, lease_token::text, lease_expires_at, worker_id, errors::text,
    created_at, updated_at, finished_at, lease_expiries, max_lease_expiries, result, snoozes, progress,
    progress_message, progress_at, payload_ref, concurrency_key"""

# What Lease returns: every timestamp costs asyncpg ~1.4 us to decode, and a worker has no use
# for when the job was created or last updated (GetJob shows them).
LEASED_COLUMNS = JOB_COLUMNS.replace(
    "created_at, updated_at, finished_at", "NULL::timestamptz, NULL::timestamptz, NULL::timestamptz"
).replace("max_lease_expiries, result", "max_lease_expiries, NULL::bytea")  # a RUNNING job has none

_ENQUEUED = EventRow(MOVES[Reason.ENQUEUE], attempt="0", worker_id="NULL")

ENQUEUE = f"""
WITH input AS (
    SELECT gen_random_uuid() AS id, t.*
    FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[],
                $7::timestamptz[], $8::int[], $9::float8[], $10::float8[], $11::float8[],
                $12::text[], $13::float8[], $14::int[], $16::text[], $17::text[]) WITH ORDINALITY
         AS t(queue, kind, payload, headers, idempotency_key, priority, run_at, max_attempts,
              retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration,
              max_lease_expiries, payload_ref, concurrency_key, ord)
), ins AS (
    INSERT INTO broker_jobs (id, queue, kind, payload, headers, idempotency_key, priority, state,
        run_at, max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter,
        lease_duration, max_lease_expiries, payload_ref, concurrency_key, created_at, updated_at)
    SELECT id, queue, kind, payload, headers::jsonb, idempotency_key, priority,
        {target(MOVES[Reason.ENQUEUE])}, coalesce(run_at, $15), max_attempts, retry_initial,
        retry_max, retry_multiplier, retry_jitter, lease_duration, max_lease_expiries, payload_ref, concurrency_key, $15, $15
    -- Keys in a fixed order, so batches racing on the same keys wait for each other instead of
    -- deadlocking.
    FROM input ORDER BY queue, idempotency_key, ord
    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, queue, kind
), ev AS (
    {_ENQUEUED.insert("ins", "$15")}
)
-- `IN (SELECT ...)` is a hashed lookup in any plan; a join on `ins` was a nested loop in the
-- generic plan (pool.py), whose cost grew with the square of the batch.
SELECT s.id::text, s.queue, s.kind, s.idempotency_key, s.created, {_ENQUEUED.returned("s", "s.created")}
FROM (SELECT input.*, input.id IN (SELECT id FROM ins) AS created FROM input OFFSET 0) s  -- one lookup per job
ORDER BY s.ord
"""

EXISTING_KEYS = """
SELECT queue, idempotency_key, id::text FROM broker_jobs
WHERE (queue, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

# Ready since its run_at, or since it was enqueued when its run_at was earlier (a producer's past time).
_LEASED = EventRow(MOVES[Reason.LEASE], waited=seconds_since("greatest({r}.run_at, {r}.created_at)", "$2"))

# The claim's second half, after CTEs that end with `picked` (the ids to lease): lease them,
# write their events, then `@more@` (CTEs of a claim that reads `leased`, such as the bucket's).
LEASE_PICKED = f""", leased AS (
    UPDATE broker_jobs j
    SET state = {target(MOVES[Reason.LEASE])}, attempt = j.attempt + 1, lease_token = gen_random_uuid(),
        lease_expires_at = $2 + make_interval(secs => coalesce($5, j.lease_duration)),
        worker_id = $4, heartbeat_at = $2, leased_at = $2, updated_at = $2, progress = NULL  -- a new attempt
    -- `= ANY(ARRAY(...))`, not a join on `picked`: the generic plan (pool.py) then reaches the
    -- rows through the primary key; a join was planned as a hash join over the whole table.
    WHERE j.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING j.*
), ev AS (
    {_LEASED.insert("leased", "$2")}
)@more@
SELECT {LEASED_COLUMNS}, {_LEASED.returned("leased")} FROM leased ORDER BY priority, run_at, id
"""

# The claim, for the queues of `@queues@` (q.name) and with `@room@` jobs at most per queue.
# (Placeholders, not str.format: the columns hold braces.)
_CLAIM = f"""
WITH @controls@picked AS (
    -- Per queue, so the ready index yields rows in lease order (no sort of the whole backlog).
    SELECT c.id, c.priority, c.run_at FROM @queues@
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM broker_jobs
        WHERE {among("state", MOVES[Reason.LEASE].sources)} AND queue = q.name AND run_at <= $2
        ORDER BY priority, run_at, id
        LIMIT @room@
        FOR UPDATE SKIP LOCKED
    ) c
    ORDER BY c.priority, c.run_at, c.id
    LIMIT $3
)""" + LEASE_PICKED


def _claim(controls: str, queues: str, room: str) -> str:
    return (_CLAIM.replace("@controls@", controls).replace("@queues@", queues).replace("@room@", room)
            .replace("@more@", ""))


# The plain claim: the asked queues ($1) without controls. A paused queue gives nothing; a queue
# with a limit or a rate is left to claims.CLAIM_LIMITED (under its lock). broker_queues is read
# by its primary key for the asked names only: a queue nobody configured costs one index probe.
CLAIM = _claim(
    controls=f"""controls AS (
    SELECT name FROM broker_queues
    WHERE name = ANY($1::text[]) AND (paused OR {COUNTED})
), """,
    queues="(SELECT u.name FROM unnest($1::text[]) AS u(name) WHERE u.name NOT IN (SELECT name FROM controls)) AS q",
    room="$3")

# Lease calls: the refs as (id, token) with their position; what changed; what is there instead.
_REFS = """refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, token, ord)
)"""


def _outcome(state: str, at: str, refs: str = "", tail: str = "") -> str:
    """Per ref, in request order: whether it changed its job (`changed` holds the moved rows with
    the token that moved them), the job's state after the call, and what a store reports of a job
    the call did not change (o is the job as the statement found it). `IN (SELECT ...)` plans as
    a hashed lookup; a join on the CTE planned as a nested loop whose cost grew with the square of
    the batch (122 ms for 1,000 acks, 31 ms this way)."""
    return f"""SELECT o.id::text, o.queue, o.kind, o.changed, {state} AS state,
    o.lease_token::text AS lease_token,
    CASE WHEN NOT o.changed THEN o.run_at END AS run_at,  -- timestamps cost ~1.4 us each to decode
    {at} AS at{tail}
FROM (
    SELECT refs.ord{refs}, ((refs.id, refs.token) IN (SELECT id, token FROM changed)) AS changed, j.*
    FROM refs LEFT JOIN broker_jobs j ON j.id = refs.id
    OFFSET 0  -- kept a subquery, so `changed` is looked up once per ref, not once per use
) o
ORDER BY o.ord"""


EXTEND = f"""
WITH {_REFS}, changed AS (
    UPDATE broker_jobs j
    SET lease_expires_at = $3::timestamptz + make_interval(secs => coalesce($4::float8, j.lease_duration)),
        heartbeat_at = $3
    FROM refs WHERE {held(fence(None))}
    RETURNING j.id, refs.token
)
{_outcome("o.state", "CASE WHEN o.changed THEN $3::timestamptz + make_interval(secs => coalesce($4::float8, o.lease_duration)) END")}
"""

_ACKED = EventRow(MOVES[Reason.ACK], ran=seconds_since("{r}.leased_at", "$3::timestamptz"))

# $4: each ref's result (NULL: none; a NULL array: no ref has one, unnest pads it with NULLs).
COMPLETE = f"""
WITH refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $4::bytea[]) WITH ORDINALITY AS r(id, token, result, ord)
), changed AS (
    UPDATE broker_jobs j
    SET state = {target(MOVES[Reason.ACK])}, finished_at = $3, updated_at = $3, lease_expires_at = NULL,
        result = refs.result
    -- A lease named twice in one call: the first naming's result.
    FROM (SELECT DISTINCT ON (id, token) * FROM refs ORDER BY id, token, ord) refs WHERE {held(fence(Reason.ACK))}
    RETURNING j.id, refs.token, j.queue, j.kind, j.attempt, j.worker_id, j.result
), ev AS (
    {_ACKED.insert("changed", "$3")}
)
{_outcome(f"CASE WHEN o.changed THEN {target(MOVES[Reason.ACK])} ELSE o.state END", "NULL::timestamptz",
          tail=", " + _ACKED.returned("o", "o.changed"))}
"""

# The jobs that refs ($1 ids, $2 tokens) hold, for Nack to decide where each goes next.
HELD = f"""
WITH {_REFS}
SELECT {JOB_COLUMNS} FROM (SELECT j.* FROM refs JOIN broker_jobs j ON {held(fence(Reason.NACK))}) j
"""

LOCK_EXPIRED = f"""
SELECT {JOB_COLUMNS} FROM broker_jobs
WHERE {among("state", MOVES[Reason.EXPIRE].sources)} AND lease_expires_at < $1
ORDER BY lease_expires_at LIMIT $2
FOR UPDATE SKIP LOCKED
"""

# Wakes long polls on every replica (listen.py LISTENs on this channel) for the queues of jobs
# that became ready now, as the insert trigger does for new jobs (migrations/0001_jobs.sql). A
# NOTIFY is delivered at commit, so no replica looks before the change is visible, and never for
# a change rolled back. A retry due later sends none: a waiting Lease finds it at its next
# re-check (BROKER_LONG_POLL_RECHECK). The statement's `woken` column counts the queues notified;
# reading it is what makes PostgreSQL evaluate the (otherwise unreferenced) CTE.
_WAKE = "SELECT pg_notify('broker_jobs', queue) FROM (SELECT DISTINCT queue FROM {ready}) q"


_FINISHED = tuple(s for s in JobState if s.finished)


def _failed(src: str, now: str, expired: bool) -> str:
    """The SET of a failed attempt, the next state and run_at as `src` says (its next_state,
    next_run_at, error). A lapsed lease clears the token and counts toward the job's
    max_lease_expiries; a nack keeps the token (a repeat finds it) and counts nothing."""
    return f"""state = {src}.next_state, run_at = coalesce({src}.next_run_at, j.run_at), lease_expires_at = NULL,
        lease_token = {"NULL" if expired else "j.lease_token"}, lease_expiries = j.lease_expiries{" + 1" if expired else ""},
        errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'error', {src}.error, 'at', {now}::timestamptz)),
        finished_at = CASE WHEN {among(src + '.next_state', _FINISHED)} THEN {now}::timestamptz END, updated_at = {now}"""


def _ready(now: str) -> str:
    return f"changed WHERE next_state = {literal(JobState.PENDING.value)} AND run_at <= {now}"


_NACKED = EventRow(MOVES[Reason.NACK], to_state="{r}.next_state", error="{r}.error",
                   ran=seconds_since("{r}.leased_at", "$6::timestamptz"))

# Nack: the refs ($1 ids, $2 tokens) with the decision for each ref's job ($3 next state, NULL
# for a job no ref holds, $4 run_at, NULL keeping it, $5 error); $6 now.
FAIL = f"""
WITH refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY
        AS r(id, token, next_state, next_run_at, error, ord)
), changed AS (
    UPDATE broker_jobs j SET {_failed("refs", "$6", expired=False)}
    FROM refs WHERE {held(fence(Reason.NACK))} AND refs.next_state IS NOT NULL
    RETURNING j.id, refs.token, j.queue, j.kind, refs.next_state, j.attempt, j.worker_id, refs.error,
        j.run_at, j.leased_at
), ev AS (
    {_NACKED.insert("changed", "$6")}
), woken AS (
    {_WAKE.format(ready=_ready("$6"))}
)
{_outcome("CASE WHEN o.changed THEN o.next_state ELSE o.state END",
          f"CASE WHEN o.changed AND o.next_state = {literal(JobState.PENDING.value)} THEN coalesce(o.next_run_at, o.run_at) END",
          refs=", refs.next_state, refs.next_run_at, refs.error",
          tail=", (SELECT count(*) FROM woken) AS woken, " + _NACKED.returned("o", "o.changed"))}
"""

_EXPIRED = EventRow(MOVES[Reason.EXPIRE], to_state="{r}.next_state", error="{r}.error",
                    ran=seconds_since("{r}.leased_at", "$5::timestamptz"))

# The reaper, on jobs LOCK_EXPIRED locked: $1 ids, $2 next states, $3 run_at (NULL keeps it),
# $4 errors, $5 now.
EXPIRE = f"""
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) AS u(id, next_state, next_run_at, error)
), changed AS (
    UPDATE broker_jobs j SET {_failed("u", "$5", expired=True)}
    FROM u WHERE j.id = u.id AND {among("j.state", MOVES[Reason.EXPIRE].sources)}
    RETURNING j.id, j.queue, j.kind, u.next_state, j.attempt, j.worker_id, u.error, j.run_at, j.leased_at
), ev AS (
    {_EXPIRED.insert("changed", "$5")}
), woken AS (
    {_WAKE.format(ready=_ready("$5"))}
)
SELECT id::text, queue, kind, (SELECT count(*) FROM woken) AS woken, {_EXPIRED.returned("changed")}
FROM changed
"""

_REDRIVEN = EventRow(MOVES[Reason.REDRIVE], worker_id="NULL")

_REDRIVE = f"""
WITH changed AS (
    UPDATE broker_jobs
    SET state = {target(MOVES[Reason.REDRIVE])}, run_at = $1, updated_at = $1, finished_at = NULL,
        lease_token = NULL, worker_id = NULL, attempt = CASE WHEN $2 THEN 0 ELSE attempt END,
        lease_expiries = CASE WHEN $2 THEN 0 ELSE lease_expiries END
    WHERE {among("state", MOVES[Reason.REDRIVE].sources)} AND {{where}}
    RETURNING id, queue, kind, attempt
), ev AS (
    {_REDRIVEN.insert("changed", "$1")}
), woken AS (
    {{wake}}
)
SELECT id::text, queue, kind, (SELECT count(*) FROM woken) AS woken, {_REDRIVEN.returned("changed")}
FROM changed
"""
# A redriven job is ready at once (run_at = now).
REDRIVE_IDS = _REDRIVE.format(where="id = ANY($3::uuid[])", wake=_WAKE.format(ready="changed"))
REDRIVE_QUEUE = _REDRIVE.format(where="queue = $3", wake=_WAKE.format(ready="changed"))

# The old state is read under the row lock: the event says which state the job left.
_CANCELLED = EventRow(MOVES[Reason.CANCEL], from_state="{r}.from_state")

CANCEL = f"""
WITH old AS (
    SELECT id, state FROM broker_jobs WHERE id = $1::uuid FOR UPDATE
), changed AS (
    UPDATE broker_jobs j
    SET state = {target(MOVES[Reason.CANCEL])}, finished_at = $2, updated_at = $2, lease_expires_at = NULL
    FROM old WHERE j.id = old.id AND {among("old.state", MOVES[Reason.CANCEL].sources)}
    RETURNING j.id, j.queue, j.kind, j.attempt, j.worker_id, old.state AS from_state
), ev AS (
    {_CANCELLED.insert("changed", "$2")}
)
SELECT id::text, queue, kind, {_CANCELLED.returned("changed")} FROM changed
"""
