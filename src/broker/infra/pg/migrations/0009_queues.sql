-- Queue controls (flow control), shared by every replica. A queue without a row has the default
-- controls (not paused, no limit); the claim reads this table for the queues it is asked for.
-- A queue's row is also the lock that serialises the claims of a queue with a concurrency limit.

CREATE TABLE broker_queues (
    name text PRIMARY KEY,
    paused boolean NOT NULL DEFAULT false,
    concurrency_limit integer CHECK (concurrency_limit > 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Every change of a queue's controls, like a job's events.
CREATE TABLE broker_queue_events (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    paused_before boolean NOT NULL,
    paused boolean NOT NULL,
    concurrency_limit_before integer,
    concurrency_limit integer,
    at timestamptz NOT NULL
);

CREATE INDEX broker_queue_events_queue ON broker_queue_events (queue, id);
