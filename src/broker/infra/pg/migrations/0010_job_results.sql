-- Job results: what a worker's Ack carried (at most BROKER_MAX_RESULT_BYTES), kept with the
-- SUCCEEDED job and shown by GetJob. NULL: no result.

ALTER TABLE broker_jobs ADD COLUMN result bytea;
