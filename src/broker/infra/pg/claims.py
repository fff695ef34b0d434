"""The counted claim: queues with a concurrency limit, a limit per concurrency key or a rate
limit, claimed after queries.LOCK_LIMITED locked their rows (so claims of one such queue take
turns on every replica, and this statement's snapshot counts what the claim before it committed).

Each control only narrows the room a queue has in this call:
- the concurrency limit: the limit minus the queue's RUNNING jobs;
- the rate limit: the whole tokens in the queue's bucket, refilled as of `now` ($2, the broker's
  clock), taken back by the `bucket` CTE for the jobs leased;
- the per-key limit: a job whose key already has that many RUNNING jobs (counted through the
  partial index broker_jobs_running_keys) is passed over in the scan (so it never stops the claim from taking the next eligible job), and of the rest, each
  key gets at most its remaining room, in lease order.
A queue without one of these pays nothing for it: its column is NULL and a CASE skips the count
(or the scan's per-key probe)."""

from broker.entities.job import MOVES, JobState, Reason
from broker.infra.pg.controls import tokens
from broker.infra.pg.moves import among
from broker.infra.pg.sql import LEASE_PICKED

_RUNNING = among("r.state", (JobState.RUNNING,))
_ORDER = "priority, run_at, id"
# A queue with a per-key limit scans this many ready jobs per job it has room for: a few keys
# at their limit at the head of the queue then cost a smaller batch, never an empty one (their
# jobs are passed over by the scan itself).
KEYED_SCAN = 4

# A key's RUNNING jobs: one probe of broker_jobs_running_keys per candidate, however many keys
# are busy.
_BUSY = f"(SELECT count(*) FROM broker_jobs r WHERE r.queue = {{q}} AND r.concurrency_key = {{key}} AND {_RUNNING})"

# $1 the locked queues, $6 their concurrency limits, $7 their per-key limits, $8 their tokens at
# now (NULL: no such control); $2 now, $3 the batch, $4 the worker, $5 the lease duration.
CLAIM_LIMITED = f"""
WITH room AS (
    SELECT l.name, l.per_key, greatest(least($3,
        CASE WHEN l.cap IS NULL THEN $3
             ELSE l.cap - (SELECT count(*) FROM broker_jobs r WHERE r.queue = l.name AND {_RUNNING}) END,
        coalesce(floor(l.tokens)::int, $3)), 0) AS room
    FROM unnest($1::text[], $6::int[], $7::int[], $8::float8[]) AS l(name, cap, per_key, tokens)
), candidates AS (
    SELECT q.name, q.room, q.per_key, c.* FROM room AS q
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.concurrency_key FROM broker_jobs j
        WHERE {among("j.state", MOVES[Reason.LEASE].sources)} AND j.queue = q.name AND j.run_at <= $2
            AND (q.per_key IS NULL OR j.concurrency_key IS NULL
                 OR {_BUSY.format(q="q.name", key="j.concurrency_key")} < q.per_key)
        ORDER BY j.priority, j.run_at, j.id
        LIMIT CASE WHEN q.per_key IS NULL THEN q.room ELSE q.room * {KEYED_SCAN} END
        FOR UPDATE OF j SKIP LOCKED
    ) c
    WHERE q.room > 0
), fitting AS (
    -- Of each key's candidates, as many as its room; then of each queue's, as many as its room.
    SELECT k.id, k.priority, k.run_at, k.room,
        row_number() OVER (PARTITION BY k.name ORDER BY {_ORDER}) AS nth_in_queue
    FROM (SELECT c.*, row_number() OVER (PARTITION BY c.name, c.concurrency_key ORDER BY {_ORDER}) AS nth_of_key
          FROM candidates c) k
    WHERE k.per_key IS NULL OR k.concurrency_key IS NULL
        OR k.nth_of_key + {_BUSY.format(q="k.name", key="k.concurrency_key")} <= k.per_key
), picked AS (
    SELECT id, priority, run_at FROM fitting WHERE nth_in_queue <= room ORDER BY {_ORDER} LIMIT $3
)""" + LEASE_PICKED.replace("@more@", f""", bucket AS (
    -- One token per job leased, from the bucket as refilled at now.
    UPDATE broker_queues b SET rate_tokens = {tokens("$2", "b")} - t.n,
        rate_refilled_at = greatest(b.rate_refilled_at, $2)
    FROM (SELECT queue, count(*) AS n FROM leased GROUP BY queue) t
    WHERE b.name = t.queue AND b.rate_limit IS NOT NULL
)""")
