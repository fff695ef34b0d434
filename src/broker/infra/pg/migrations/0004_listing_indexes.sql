-- Every state change of a job writes an entry in each full index of broker_jobs. Listing all
-- jobs of every queue newest first is rare (an operator's page); listing the dead letters of
-- every queue is the dashboard's default view. Keep the index for that, over dead jobs only.
DROP INDEX broker_jobs_created;
CREATE INDEX broker_jobs_dead ON broker_jobs (created_at DESC, id DESC) WHERE state = 'dead';
