"""The statements that move jobs, one per operation (the reads and deletes are in queries.py).
$-parameters are positional; `now` is always a parameter so tests can move time."""

# Headers come back NULL when empty: json.loads('{}') cost ~0.9 us per leased job.
JOB_COLUMNS = """id::text, queue, kind, payload, NULLIF(headers, '{}'::jsonb)::text, idempotency_key,
    priority, state, run_at, attempt, max_attempts, retry_initial, retry_max, retry_multiplier,
    retry_jitter, lease_duration, lease_token::text, lease_expires_at, worker_id, errors::text,
    created_at, updated_at, finished_at, lease_expiries, max_lease_expiries"""

# What Lease returns: every timestamp costs asyncpg ~1.4 us to decode, and a worker has no use
# for when the job was created or last updated (GetJob shows them).
LEASED_COLUMNS = JOB_COLUMNS.replace(
    "created_at, updated_at, finished_at", "NULL::timestamptz, NULL::timestamptz, NULL::timestamptz")

ENQUEUE = """
WITH input AS (
    SELECT gen_random_uuid() AS id, t.*
    FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[],
                $7::timestamptz[], $8::int[], $9::float8[], $10::float8[], $11::float8[],
                $12::text[], $13::float8[], $14::int[]) WITH ORDINALITY
         AS t(queue, kind, payload, headers, idempotency_key, priority, run_at, max_attempts,
              retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration,
              max_lease_expiries, ord)
), ins AS (
    INSERT INTO broker_jobs (id, queue, kind, payload, headers, idempotency_key, priority, state,
        run_at, max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter,
        lease_duration, max_lease_expiries, created_at, updated_at)
    SELECT id, queue, kind, payload, headers::jsonb, idempotency_key, priority, 'pending', coalesce(run_at, $15),
        max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration,
        max_lease_expiries, $15, $15
    -- Keys in a fixed order, so batches racing on the same keys wait for each other instead of
    -- deadlocking.
    FROM input ORDER BY queue, idempotency_key, ord
    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, queue, kind
), ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, at)
    SELECT id, queue, NULL, 'pending', 'enqueue', 0, $15 FROM ins
)
-- `IN (SELECT ...)` is a hashed lookup in any plan; a join on `ins` was a nested loop in the
-- generic plan (pool.py), whose cost grew with the square of the batch.
SELECT input.id::text, input.queue, input.kind, input.idempotency_key,
    input.id IN (SELECT id FROM ins) AS created
FROM input
ORDER BY input.ord
"""

EXISTING_KEYS = """
SELECT queue, idempotency_key, id::text FROM broker_jobs
WHERE (queue, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

CLAIM = f"""
WITH picked AS (
    -- Per queue, so the ready index yields rows in lease order (no sort of the whole backlog).
    SELECT c.id FROM unnest($1::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM broker_jobs
        WHERE state = 'pending' AND queue = q.name AND run_at <= $2
        ORDER BY priority, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED
    ) c
    ORDER BY c.priority, c.run_at, c.id
    LIMIT $3
), leased AS (
    UPDATE broker_jobs j
    SET state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(),
        lease_expires_at = $2 + make_interval(secs => coalesce($5, j.lease_duration)),
        worker_id = $4, heartbeat_at = $2, leased_at = $2, updated_at = $2
    -- `= ANY(ARRAY(...))`, not a join on `picked`: the generic plan (pool.py) then reaches the
    -- rows through the primary key; a join was planned as a hash join over the whole table.
    WHERE j.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING j.*
), ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, at)
    SELECT id, queue, 'pending', 'running', 'lease', attempt, worker_id, $2 FROM leased
)
SELECT {LEASED_COLUMNS} FROM leased ORDER BY priority, run_at, id
"""

# Lease calls: the refs as (id, token) with their position; what changed; what is there instead.
_REFS = """refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, token, ord)
)"""
_HELD = "j.id = refs.id AND j.lease_token::text = refs.token AND j.state = 'running'"
# `IN (SELECT ...)` plans as a hashed lookup; a join on the CTE planned as a nested loop whose cost
# grew with the square of the batch (122 ms for 1,000 acks, 31 ms this way).
_OUTCOME = """SELECT o.changed, o.state, o.lease_token::text AS lease_token,
    CASE WHEN NOT o.changed THEN o.run_at END AS run_at,  -- timestamps cost ~1.4 us each to decode
    CASE WHEN o.changed THEN {at} END AS at, o.queue, o.kind, o.attempt, o.worker_id,
    extract(epoch FROM $3::timestamptz - o.leased_at)::float8 AS ran
FROM (
    SELECT refs.ord, ((refs.id, refs.token) IN (SELECT id, token FROM changed)) AS changed, j.*
    FROM refs LEFT JOIN broker_jobs j ON j.id = refs.id
) o
ORDER BY o.ord"""

EXTEND = f"""
WITH {_REFS}, changed AS (
    UPDATE broker_jobs j
    SET lease_expires_at = $3::timestamptz + make_interval(secs => coalesce($4::float8, j.lease_duration)),
        heartbeat_at = $3
    FROM refs WHERE {_HELD}
    RETURNING j.id, refs.token
)
{_OUTCOME.format(at="$3::timestamptz + make_interval(secs => coalesce($4::float8, o.lease_duration))")}
"""

COMPLETE = f"""
WITH {_REFS}, changed AS (
    UPDATE broker_jobs j
    SET state = 'succeeded', finished_at = $3, updated_at = $3, lease_expires_at = NULL
    FROM refs WHERE {_HELD}
    RETURNING j.id, refs.token, j.queue, j.kind, j.attempt, j.worker_id
), ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, at)
    SELECT id, queue, 'running', 'succeeded', 'ack', attempt, worker_id, $3 FROM changed
)
{_OUTCOME.format(at="NULL::timestamptz")}
"""

LOCK_FOR_FAILURE = f"""
SELECT {JOB_COLUMNS} FROM broker_jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""

LOCK_EXPIRED = f"""
SELECT {JOB_COLUMNS} FROM broker_jobs
WHERE state = 'running' AND lease_expires_at < $1
ORDER BY lease_expires_at LIMIT $2
FOR UPDATE SKIP LOCKED
"""

# Wakes long polls on every replica (listen.py LISTENs on this channel) for the queues of jobs
# that became ready now, as the insert trigger does for new jobs (migrations/0001_jobs.sql). A
# NOTIFY is delivered at commit, so no replica looks before the change is visible, and never for
# a change rolled back. A retry due later sends none: a waiting Lease finds it at its next
# re-check (BROKER_LONG_POLL_RECHECK). The statement's last column counts the queues notified;
# reading it is what makes PostgreSQL evaluate the (otherwise unreferenced) CTE.
_WAKE = "SELECT pg_notify('broker_jobs', queue) FROM (SELECT DISTINCT queue FROM {ready}) q"

# $1 ids, $2 next states, $3 run_at (NULL keeps it), $4 errors, $5 now, $6 clear the token, $7 reason.
# A lapsed lease (reason 'expire') counts toward the job's max_lease_expiries; a nack does not.
FAIL = f"""
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) AS u(id, state, run_at, error)
), changed AS (
    UPDATE broker_jobs j
    SET state = u.state, run_at = coalesce(u.run_at, j.run_at), lease_expires_at = NULL,
        lease_token = CASE WHEN $6 THEN NULL ELSE j.lease_token END,
        lease_expiries = j.lease_expiries + CASE WHEN $7::text = 'expire' THEN 1 ELSE 0 END,
        errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'error', u.error, 'at', $5::timestamptz)),
        finished_at = CASE WHEN u.state = 'dead' THEN $5 END, updated_at = $5
    FROM u WHERE j.id = u.id AND j.state = 'running'
    RETURNING j.id, j.queue, j.kind, j.state, j.attempt, j.worker_id, u.error, j.run_at, j.leased_at
)
, ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, error, at)
    SELECT id, queue, 'running', state, $7, attempt, worker_id, error, $5 FROM changed
), woken AS (
    {_WAKE.format(ready="changed WHERE state = 'pending' AND run_at <= $5")}
)
SELECT id::text, queue, kind, state, attempt, worker_id, error, run_at, leased_at,
    (SELECT count(*) FROM woken) AS woken
FROM changed
"""

_REDRIVE = """
WITH changed AS (
    UPDATE broker_jobs
    SET state = 'pending', run_at = $1, updated_at = $1, finished_at = NULL, lease_token = NULL,
        worker_id = NULL, attempt = CASE WHEN $2 THEN 0 ELSE attempt END,
        lease_expiries = CASE WHEN $2 THEN 0 ELSE lease_expiries END
    WHERE state = 'dead' AND {where}
    RETURNING id, queue, kind, attempt
), ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, at)
    SELECT id, queue, 'dead', 'pending', 'redrive', attempt, $1 FROM changed
), woken AS (
    {wake}
)
SELECT id::text, queue, kind, attempt, (SELECT count(*) FROM woken) AS woken FROM changed
"""
# A redriven job is ready at once (run_at = now).
REDRIVE_IDS = _REDRIVE.format(where="id = ANY($3::uuid[])", wake=_WAKE.format(ready="changed"))
REDRIVE_QUEUE = _REDRIVE.format(where="queue = $3", wake=_WAKE.format(ready="changed"))

CANCEL = """
WITH old AS (
    SELECT id, state FROM broker_jobs WHERE id = $1::uuid FOR UPDATE
), changed AS (
    UPDATE broker_jobs j
    SET state = 'cancelled', finished_at = $2, updated_at = $2, lease_expires_at = NULL
    FROM old WHERE j.id = old.id AND old.state IN ('pending', 'running')
    RETURNING j.id, j.queue, j.kind, j.attempt, j.worker_id, old.state AS from_state
), ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, at)
    SELECT id, queue, from_state, 'cancelled', 'cancel', attempt, worker_id, $2 FROM changed
)
SELECT id::text, queue, kind, attempt, worker_id, from_state FROM changed
"""
