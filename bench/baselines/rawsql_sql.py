"""The raw-SQL baselines' statements, in three variants:

- `broker`: the broker's own statements (broker.infra.pg.sql), event rows included: the
  reference that performs exactly the broker's lifecycle;
- `tuned-events`: the same lifecycle and the same event rows, written so PostgreSQL can use
  its indexes: the claim reads the ready index per queue (a LATERAL join over the asked
  queues; `queue = ANY($1)` made PostgreSQL 15 scan and sort every pending row; the broker
  adopted the same form), and the outcome of a completion is looked up in the changed rows
  once (a hashed IN) instead of a nested loop over them per ref;
- `tuned-plain`: `tuned-events` without the event rows: the ceiling of this schema.
"""

from __future__ import annotations

from broker.infra.pg import sql
from broker.infra.pg.pool import PLANNING

_PICK_LATERAL = """picked AS (
    SELECT p.id FROM unnest($1::text[]) AS q(name)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM broker_jobs
        WHERE state = 'pending' AND queue = q.name AND run_at <= $2
        ORDER BY priority, run_at, id
        LIMIT $3
        FOR UPDATE SKIP LOCKED) p
    ORDER BY p.priority, p.run_at, p.id
    LIMIT $3
)"""
_LEASE = """leased AS (
    UPDATE broker_jobs j
    SET state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(),
        lease_expires_at = $2 + make_interval(secs => coalesce($5, j.lease_duration)),
        worker_id = $4, heartbeat_at = $2, leased_at = $2, updated_at = $2
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
)"""
_LEASE_EVENTS = """, ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, at)
    SELECT id, queue, 'pending', 'running', 'lease', attempt, worker_id, $2 FROM leased
)"""


def _claim(events: bool) -> str:
    return (f"WITH {_PICK_LATERAL}, {_LEASE}{_LEASE_EVENTS if events else ''}\n"
            f"SELECT {sql.JOB_COLUMNS} FROM leased ORDER BY priority, run_at, id")


_REFS = """refs AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, token, ord)
)"""
_DONE = """changed AS (
    UPDATE broker_jobs j
    SET state = 'succeeded', finished_at = $3, updated_at = $3, lease_expires_at = NULL
    FROM refs WHERE j.id = refs.id AND j.lease_token::text = refs.token AND j.state = 'running'
    RETURNING j.id, refs.token, j.queue, j.kind, j.attempt, j.worker_id
)"""
_DONE_EVENTS = """, ev AS (
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, at)
    SELECT id, queue, 'running', 'succeeded', 'ack', attempt, worker_id, $3 FROM changed
)"""
_OUTCOME = """SELECT ((refs.id, refs.token) IN (SELECT id, token FROM changed)) AS changed, j.state,
    j.lease_token::text AS lease_token, j.run_at, NULL::timestamptz AS at, j.queue, j.kind, j.attempt,
    j.worker_id, j.leased_at
FROM refs LEFT JOIN broker_jobs j ON j.id = refs.id
ORDER BY refs.ord"""


def _complete(events: bool) -> str:
    return f"WITH {_REFS}, {_DONE}{_DONE_EVENTS if events else ''}\n{_OUTCOME}"


ENQUEUE_PLAIN = """
INSERT INTO broker_jobs (id, queue, kind, payload, headers, idempotency_key, priority, state,
    run_at, max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter,
    lease_duration, max_lease_expiries, payload_ref, concurrency_key, created_at, updated_at)
SELECT gen_random_uuid(), queue, kind, payload, headers::jsonb, idempotency_key, priority, 'pending', run_at,
    max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration,
    max_lease_expiries, payload_ref, concurrency_key, $15, $15
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::int[],
            $7::timestamptz[], $8::int[], $9::float8[], $10::float8[], $11::float8[],
            $12::text[], $13::float8[], $14::int[], $16::text[], $17::text[])
     AS t(queue, kind, payload, headers, idempotency_key, priority, run_at, max_attempts,
          retry_initial, retry_max, retry_multiplier, retry_jitter, lease_duration, max_lease_expiries,
          payload_ref, concurrency_key)
RETURNING id::text
"""

VARIANTS = {
    "broker": (sql.ENQUEUE, sql.CLAIM, sql.COMPLETE),
    "tuned-events": (sql.ENQUEUE, _claim(True), _complete(True)),
    "tuned-plain": (ENQUEUE_PLAIN, _claim(False), _complete(False)),
}
LABELS = {"broker": "broker SQL, with events", "tuned-events": "tuned SQL, with events",
          "tuned-plain": "tuned SQL, no events"}
# reference: the broker's SQL; tuned: the same lifecycle and events, well planned; ceiling: no events.
ROLES = {"broker": "reference", "tuned-events": "tuned", "tuned-plain": "ceiling"}


def session_settings(variant: str) -> dict[str, str]:
    """The broker's SQL runs with the broker's session settings (generic plans); the tuned
    variants were tuned under PostgreSQL's defaults."""
    return dict(PLANNING) if variant == "broker" else {}


def statements(variant: str) -> tuple[str, str, str]:
    """(enqueue, claim, complete) of a variant."""
    return VARIANTS[variant]


def enqueue_args(payloads: list[bytes], queue: str, kind: str, now) -> list:
    """The 17 parameters of ENQUEUE for these payloads, with the broker's queue defaults (inline
    payloads: no payload references; no concurrency keys: $17 NULL)."""
    n = len(payloads)
    return [[queue] * n, [kind] * n, payloads, [None] * n, [None] * n, [0] * n, [now] * n, [10] * n,
            [1.0] * n, [3600.0] * n, [2.0] * n, ["full"] * n, [30.0] * n, [5] * n, now, [None] * n, None]
