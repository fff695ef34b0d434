-- Jobs and their event log. States and reasons are the names in broker.entities.job.

CREATE TABLE broker_jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    queue            text NOT NULL,
    kind             text NOT NULL,
    payload          bytea NOT NULL,
    headers          jsonb,                      -- NULL when there are none
    idempotency_key  text,
    priority         integer NOT NULL DEFAULT 0,
    state            text NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'dead', 'cancelled')),
    run_at           timestamptz NOT NULL,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL,
    retry_initial    double precision NOT NULL,
    retry_max        double precision NOT NULL,
    retry_multiplier double precision NOT NULL,
    retry_jitter     text NOT NULL,
    lease_duration   double precision NOT NULL,
    lease_token      uuid,                       -- the fencing token of the current or last lease
    lease_expires_at timestamptz,
    worker_id        text,
    heartbeat_at     timestamptz,
    errors           jsonb NOT NULL DEFAULT '[]',  -- [{attempt, error, at}], one per failed attempt
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz
);

-- Idempotency: one job per key and queue, for as long as the job is kept.
CREATE UNIQUE INDEX broker_jobs_idempotency ON broker_jobs (queue, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Lease order: lowest priority, then oldest run_at.
CREATE INDEX broker_jobs_ready ON broker_jobs (queue, priority, run_at, id) WHERE state = 'pending';
-- The reaper's scan.
CREATE INDEX broker_jobs_leases ON broker_jobs (lease_expires_at) WHERE state = 'running';
-- The pruner's scan.
CREATE INDEX broker_jobs_finished ON broker_jobs (finished_at) WHERE state IN ('succeeded', 'cancelled');
-- ListJobs, newest first, by queue and state.
CREATE INDEX broker_jobs_listing ON broker_jobs (queue, state, created_at DESC, id DESC);
CREATE INDEX broker_jobs_created ON broker_jobs (created_at DESC, id DESC);

CREATE TABLE broker_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid NOT NULL,   -- no foreign key: purge and prune delete events themselves
    queue       text NOT NULL,
    from_state  text,            -- NULL for the enqueue event
    to_state    text NOT NULL,
    reason      text NOT NULL,
    attempt     integer NOT NULL,
    worker_id   text,
    error       text,
    at          timestamptz NOT NULL
);

CREATE INDEX broker_events_job ON broker_events (job_id, id);
CREATE INDEX broker_events_at ON broker_events (at);

-- Wake long-polling leases on every broker replica when ready jobs arrive.
CREATE FUNCTION broker_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('broker_jobs', q.queue)
    FROM (SELECT DISTINCT queue FROM new_jobs WHERE state = 'pending') q;
    RETURN NULL;
END $$;

CREATE TRIGGER broker_jobs_notify AFTER INSERT ON broker_jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION broker_notify_jobs();
