"""The raw-SQL ceiling's statements. With events they are the broker's own statements
(broker.infra.pg.sql), so the reference does exactly the broker's lifecycle; without events
they are the same statements minus the event-row CTE."""

from __future__ import annotations

from broker.infra.pg import sql

CLAIM_EVENTS = sql.CLAIM
COMPLETE_EVENTS = sql.COMPLETE
ENQUEUE_EVENTS = sql.ENQUEUE

CLAIM_PLAIN = f"""
WITH picked AS (
    SELECT id FROM broker_jobs
    WHERE state = 'pending' AND queue = ANY($1::text[]) AND run_at <= $2
    ORDER BY priority, run_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE broker_jobs j
    SET state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(),
        lease_expires_at = $2 + make_interval(secs => coalesce($5, j.lease_duration)),
        worker_id = $4, heartbeat_at = $2, updated_at = $2
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
)
SELECT {sql.JOB_COLUMNS} FROM leased ORDER BY priority, run_at, id
"""

COMPLETE_PLAIN = """
WITH refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, token, ord)
), changed AS (
    UPDATE broker_jobs j
    SET state = 'succeeded', finished_at = $3, updated_at = $3, lease_expires_at = NULL
    FROM refs WHERE j.id = refs.id AND j.lease_token::text = refs.token AND j.state = 'running'
    RETURNING j.id
)
SELECT (c.id IS NOT NULL) AS changed FROM refs LEFT JOIN changed c ON c.id = refs.id ORDER BY refs.ord
"""

ENQUEUE_PLAIN = """
INSERT INTO broker_jobs (id, queue, kind, payload, headers, idempotency_key, priority, state,
    run_at, max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter,
    lease_duration, created_at, updated_at)
SELECT gen_random_uuid(), queue, kind, payload, headers::jsonb, idempotency_key, priority, 'pending', run_at,
    max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration, $14, $14
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[],
            $7::timestamptz[], $8::int[], $9::float8[], $10::float8[], $11::float8[],
            $12::text[], $13::float8[])
     AS t(queue, kind, payload, headers, idempotency_key, priority, run_at, max_attempts,
          retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration)
RETURNING id::text
"""


def statements(events: bool) -> tuple[str, str, str]:
    """(enqueue, claim, complete)"""
    if events:
        return ENQUEUE_EVENTS, CLAIM_EVENTS, COMPLETE_EVENTS
    return ENQUEUE_PLAIN, CLAIM_PLAIN, COMPLETE_PLAIN


def enqueue_args(payloads: list[bytes], queue: str, kind: str, now) -> list:
    """The 14 parameters of ENQUEUE for these payloads, with the broker's queue defaults."""
    n = len(payloads)
    return [[queue] * n, [kind] * n, payloads, [None] * n, [None] * n, [0] * n, [now] * n, [10] * n,
            [1.0] * n, [3600.0] * n, [2.0] * n, ["full"] * n, [30.0] * n, now]
