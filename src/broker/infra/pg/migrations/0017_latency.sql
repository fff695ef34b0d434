-- Pickup and run-time histograms per queue and minute (issue #16, dashboard): each replica counts
-- in memory and adds its counts here every BROKER_OBSERVE_FLUSH_INTERVAL (ON CONFLICT adds), so a
-- row holds the sum over replicas. `le` is the bucket's upper bound in seconds (Infinity: the
-- last), as in entities/latency.py; `kind` is 'pickup' (ready to leased) or 'run' (leased to ack
-- or nack). Rows older than a day (the longest window /api/latency reads) are pruned.

CREATE TABLE broker_latency (
    queue  text NOT NULL,
    minute timestamptz NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('pickup', 'run')),
    le     double precision NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (minute, queue, kind, le)
);
