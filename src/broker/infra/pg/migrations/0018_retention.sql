-- Retention without bloat (issue 17).
--
-- broker_jobs: every job is inserted, updated at least twice (lease, ack) and deleted by the
-- pruner. `state` is in the key or predicate of most indexes, so no state change can be a HOT
-- update: each leaves a dead row version and new entries in every index. Room on each page
-- (fillfactor) lets the new version land beside the old one, where the next visit to the page
-- reclaims the old one's space; vacuum thresholds that do not scale with the table (20 % by
-- default) keep the dead versions to a fraction of the live rows. The broker also vacuums the
-- table itself when the dead rows pass that fraction (infra/pg/retention.py), since a server's
-- autovacuum may be off, or its naptime long. No vacuum gives the empty pages at the end of the
-- table back (vacuum_truncate): that takes an ACCESS EXCLUSIVE lock, which would stop every
-- statement on the table for its duration, and the next jobs reuse the pages anyway.
ALTER TABLE broker_jobs SET (fillfactor = 85, vacuum_truncate = false,
    autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.05);

-- ListJobs' index held `state`, so each state change put the job's entry somewhere else in it: a
-- new entry per move, which only vacuum removes, and descending keys, whose page splits leave
-- half-empty pages behind. In a soak at 1,000 jobs/s it grew five times the primary key's size.
-- Without `state` a move keeps the entry's key, and PostgreSQL's bottom-up deletion removes the
-- old versions' entries as pages fill, as in the primary key; ascending keys are read backwards
-- for newest first. Listings by queue and state read the queue's entries and filter by state;
-- the dead jobs of a queue (the dashboard's dead-letter view) get a partial index of their own.
-- (The index is built under the migration's lock: on a large table, a few seconds per million jobs.)
DROP INDEX broker_jobs_listing;
CREATE INDEX broker_jobs_listing ON broker_jobs (queue, created_at, id);
CREATE INDEX broker_jobs_dead_queue ON broker_jobs (queue, created_at, id) WHERE state = 'dead';

-- broker_events becomes partitioned by time (`at`). The pruner makes range partitions ahead of
-- time and drops each one whole once all of it is older than the retention, instead of deleting
-- the events of every pruned job (infra/pg/partitions.py). The events of jobs still there (dead
-- ones, jobs waiting a long time) move to the default partition, broker_events_kept, before
-- their partition is dropped; the pruner deletes the events there of the jobs it prunes.
--
-- The existing table becomes that default partition as it is: no row is copied or rewritten,
-- its indexes serve as its parts of the new table's. Range partitions begin with the pruner's
-- first pass, after the newest event already here.
ALTER TABLE broker_events RENAME TO broker_events_kept;
ALTER INDEX broker_events_job RENAME TO broker_events_kept_job;
ALTER INDEX broker_events_at RENAME TO broker_events_kept_at;
ALTER TABLE broker_events_kept RENAME CONSTRAINT broker_events_pkey TO broker_events_kept_pkey;

-- A partitioned table's identity column would need PostgreSQL 17 for its partitions; a plain
-- sequence, continuing after the last id, gives every event the same increasing id as before.
ALTER TABLE broker_events_kept ALTER COLUMN id DROP IDENTITY;
CREATE SEQUENCE broker_events_id_seq AS bigint;
SELECT setval('broker_events_id_seq', coalesce((SELECT max(id) FROM broker_events_kept), 0) + 1, false);
ALTER TABLE broker_events_kept ALTER COLUMN id SET DEFAULT nextval('broker_events_id_seq');

-- Every column of the old table, in its order (migrations before this one may have added some).
-- No primary key: a partitioned table's would have to include `at`; ids come from the sequence.
CREATE TABLE broker_events (LIKE broker_events_kept INCLUDING DEFAULTS) PARTITION BY RANGE (at);
ALTER SEQUENCE broker_events_id_seq OWNED BY broker_events.id;
CREATE INDEX broker_events_job ON broker_events (job_id, id);
CREATE INDEX broker_events_at ON broker_events (at);
ALTER TABLE broker_events ATTACH PARTITION broker_events_kept DEFAULT;
ALTER TABLE broker_events_kept SET (vacuum_truncate = false);  -- the pruner deletes here (above)
