-- The workers every replica has seen (issue #16, dashboard): each replica keeps in memory who
-- called Lease, on which queues, and whether a long poll is open, and upserts its rows here in one
-- statement every BROKER_OBSERVE_FLUSH_INTERVAL, so every replica lists every worker, idle ones
-- too. A row per replica, worker and queue: two replicas serving one worker never overwrite each
-- other's `waiting`. Rows not seen for BROKER_WORKER_SEEN_SECONDS are not listed; the pruner
-- deletes them.

CREATE TABLE broker_workers (
    worker_id text NOT NULL,
    queue     text NOT NULL,
    replica   text NOT NULL,            -- the broker process that saw it (host:pid/random)
    last_seen timestamptz NOT NULL,     -- its last Lease call there, or the flush while a poll is open
    waiting   boolean NOT NULL,         -- a long poll was open at the flush
    PRIMARY KEY (worker_id, queue, replica)
);

CREATE INDEX broker_workers_seen ON broker_workers (last_seen);
