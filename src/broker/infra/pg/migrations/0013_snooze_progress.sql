-- Snooze and progress (issue #12, worker-side). A snooze hands a leased job back for later
-- without using an attempt; `snoozes` counts them. A heartbeat may carry the attempt's progress
-- (a fraction 0 to 1 and a short message), kept with the job until its next lease, and each
-- change of it is an event (reason 'progress', RUNNING to RUNNING) carrying what was reported.
-- Adding nullable columns, or one with a constant default, rewrites no rows.

ALTER TABLE broker_jobs
    ADD COLUMN snoozes integer NOT NULL DEFAULT 0,
    ADD COLUMN progress double precision,
    ADD COLUMN progress_message text,
    ADD COLUMN progress_at timestamptz;

ALTER TABLE broker_events
    ADD COLUMN progress double precision,
    ADD COLUMN progress_message text;
