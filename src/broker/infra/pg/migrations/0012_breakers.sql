-- Circuit breakers per queue (entities/breaker.py), shared by every replica. A queue without a
-- row has no breaker. The claim skips the queues whose breaker is not closed and leases a
-- half-open breaker's probes under this row's lock (infra/pg/breaker_claims.py); outcomes are
-- counted into the window's buckets under the same lock (infra/pg/breakers.py).

CREATE TABLE broker_queue_breakers (
    queue text PRIMARY KEY,
    window_seconds float8 NOT NULL CHECK (window_seconds > 0),
    min_attempts integer NOT NULL CHECK (min_attempts > 0),
    failure_rate float8 NOT NULL CHECK (failure_rate > 0 AND failure_rate <= 1),
    cool_down_seconds float8 NOT NULL CHECK (cool_down_seconds > 0),
    probes integer NOT NULL CHECK (probes > 0),
    state text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    forced boolean NOT NULL DEFAULT false,
    reason text NOT NULL DEFAULT '',
    changed_at timestamptz NOT NULL,
    half_open_at timestamptz,  -- an automatic open's end of cool-down
    window_started_at timestamptz,
    window_attempts integer NOT NULL DEFAULT 0,
    window_failures integer NOT NULL DEFAULT 0,
    prev_attempts integer NOT NULL DEFAULT 0,
    prev_failures integer NOT NULL DEFAULT 0,
    probes_leased integer NOT NULL DEFAULT 0,
    probe_successes integer NOT NULL DEFAULT 0
);

-- The cool-down pass finds the open breakers that are due.
CREATE INDEX broker_queue_breakers_due ON broker_queue_breakers (half_open_at) WHERE state = 'open';

-- Every change of a breaker's state, with its reason, like a job's events.
CREATE TABLE broker_breaker_events (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    from_state text NOT NULL,
    to_state text NOT NULL,
    reason text NOT NULL,
    forced boolean NOT NULL,
    at timestamptz NOT NULL
);

CREATE INDEX broker_breaker_events_queue ON broker_breaker_events (queue, id);

-- A queue's default retry policy set at run time (UpdateQueue), over the settings' defaults:
-- a NULL column keeps the setting's value.
CREATE TABLE broker_queue_retry (
    queue text PRIMARY KEY,
    max_attempts integer CHECK (max_attempts > 0),
    initial_delay float8 CHECK (initial_delay >= 0),
    max_delay float8 CHECK (max_delay >= 0),
    multiplier float8 CHECK (multiplier >= 1),
    jitter text,
    updated_at timestamptz NOT NULL
);
