-- Schedules (cron). The state every replica shares: the next fire time (advanced only from the
-- value the claimant read), the last fire and its job, the pause, and a short claim so that one
-- replica does a schedule's pass at a time. `declared`: owned by BROKER_SCHEDULES_FILE.

CREATE TABLE broker_schedules (
    name text PRIMARY KEY,
    cron text NOT NULL,
    time_zone text NOT NULL,
    job jsonb NOT NULL,
    missed text NOT NULL,
    catch_up_limit integer NOT NULL DEFAULT 0,
    paused boolean NOT NULL DEFAULT false,
    declared boolean NOT NULL DEFAULT false,
    next_fire_at timestamptz NOT NULL,
    last_fire_at timestamptz,
    last_job_id text,
    claimed_until timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX broker_schedules_due ON broker_schedules (next_fire_at) WHERE NOT paused;
