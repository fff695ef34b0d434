-- Poison jobs: leases that lapsed (the worker crashed or hung on the job) are counted apart from
-- nacks, and a job goes DEAD once they reach its max_lease_expiries, whatever attempts it has
-- left. NULL: no such limit (jobs enqueued before this migration keep the attempts limit alone).

ALTER TABLE broker_jobs
    ADD COLUMN lease_expiries integer NOT NULL DEFAULT 0,
    ADD COLUMN max_lease_expiries integer;
