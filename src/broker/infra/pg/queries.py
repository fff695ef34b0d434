"""The statements that move no job: the reads behind GetJob, Stats and the dashboard, and the
deletes (purge, prune). ListJobs' are written per filter in listing.py; the ones that move jobs
are in sql.py."""

from broker.infra.pg.controls import COUNTED, tokens
from broker.infra.pg.sql import JOB_COLUMNS

GET = f"SELECT {JOB_COLUMNS} FROM broker_jobs WHERE id = $1::uuid"

_EVENT_COLUMNS = ("id, job_id::text, queue, from_state, to_state, reason, attempt, worker_id, error, at, "
                  "progress, progress_message")

HISTORY = f"""
SELECT {_EVENT_COLUMNS}
FROM broker_events WHERE job_id = $1::uuid ORDER BY id
"""

# GetJob: the job and its history in one statement, so from one snapshot (two statements could
# see a RUNNING job beside the "expire" event the reaper committed in between).
GET_WITH_HISTORY = f"""
SELECT {JOB_COLUMNS}, ARRAY(
    SELECT ROW({_EVENT_COLUMNS}) FROM broker_events WHERE job_id = j.id ORDER BY id) AS history
FROM broker_jobs j WHERE j.id = $1::uuid
"""

STATS_STATES = """
SELECT queue,
    count(*) FILTER (WHERE state = 'pending' AND run_at <= $2::timestamptz) AS ready,
    count(*) FILTER (WHERE state = 'pending' AND run_at > $2 AND attempt = 0) AS scheduled,
    count(*) FILTER (WHERE state = 'pending' AND run_at > $2 AND attempt > 0) AS retrying,
    count(*) FILTER (WHERE state = 'running') AS running,
    count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE state = 'dead') AS dead,
    count(*) FILTER (WHERE state = 'cancelled') AS cancelled,
    coalesce(extract(epoch FROM $2 - min(run_at) FILTER (WHERE state = 'pending' AND run_at <= $2)), 0)
        AS oldest_ready_age
FROM broker_jobs
WHERE cardinality($1::text[]) = 0 OR queue = ANY($1::text[])
GROUP BY queue
"""

STATS_WINDOWS = """
SELECT queue, at > $2::timestamptz - interval '1 minute' AS last_minute,
    count(*) FILTER (WHERE reason = 'enqueue') AS enqueued,
    count(*) FILTER (WHERE to_state = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE reason IN ('nack', 'expire')) AS failed,
    count(*) FILTER (WHERE to_state = 'dead') AS dead_lettered
FROM broker_events
WHERE at > $2::timestamptz - interval '1 hour' AND at <= $2 AND (cardinality($1::text[]) = 0 OR queue = ANY($1::text[]))
GROUP BY 1, 2
"""

THROUGHPUT = """
SELECT queue, date_trunc('minute', at) AS minute,
    count(*) FILTER (WHERE reason = 'enqueue') AS enqueued,
    count(*) FILTER (WHERE to_state = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE reason IN ('nack', 'expire')) AS failed,
    count(*) FILTER (WHERE to_state = 'dead') AS dead_lettered
FROM broker_events
WHERE at > $2 AND at <= $3 AND (cardinality($1::text[]) = 0 OR queue = ANY($1::text[]))
GROUP BY 1, 2
ORDER BY 2, 1
"""

WORKERS = """
SELECT worker_id, queue, count(*) AS leases, max(heartbeat_at) AS last_heartbeat
FROM broker_jobs WHERE state = 'running'
GROUP BY worker_id, queue ORDER BY worker_id, queue
"""

_PURGE = """
WITH gone AS (
    DELETE FROM broker_jobs WHERE state = $1 AND {where} RETURNING id
), events AS (
    DELETE FROM broker_events WHERE job_id IN (SELECT id FROM gone)
)
SELECT count(*) FROM gone
"""
PURGE_IDS = _PURGE.format(where="id = ANY($2::uuid[])")
PURGE_QUEUE = _PURGE.format(where="queue = $2")

# Finished jobs in batches, oldest first, passing over rows another transaction holds (a second
# replica's pruner, an operator's cancel). Their events in the time partitions leave with their
# partition (partitions.py); only those kept in the default partition are deleted here.
PRUNE = """
WITH gone AS (
    DELETE FROM broker_jobs WHERE id = ANY(ARRAY(
        SELECT id FROM broker_jobs
        WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1
        ORDER BY finished_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED))
    RETURNING id
), events AS (
    DELETE FROM broker_events_kept WHERE job_id IN (SELECT id FROM gone)
)
SELECT count(*) FROM gone
"""


# A claim of queues with a limit or a rate: a transaction's first statement locks their rows, so
# claims of one such queue take turns; claims.CLAIM_LIMITED, a statement of its own, then takes a
# snapshot after the lock was granted and so counts every RUNNING job that the claim before it
# committed. (In one statement, the count would read the snapshot taken before the wait for the
# lock, and two claims could both see room for the same jobs.) $2: now, for the bucket's tokens.
LOCK_LIMITED = f"""
SELECT name, concurrency_limit, per_key_concurrency, {tokens("$2")} AS tokens FROM broker_queues
WHERE name = ANY($1::text[]) AND NOT paused AND {COUNTED}
    AND name NOT IN (SELECT queue FROM broker_queue_breakers WHERE state <> 'closed')  -- probes: breaker_claims.py
ORDER BY name FOR UPDATE
"""

# The queues with a limit or a rate, for the store to know when claims.CLAIM_LIMITED is needed.
LIMITED_QUEUES = f"SELECT name FROM broker_queues WHERE {COUNTED}"
