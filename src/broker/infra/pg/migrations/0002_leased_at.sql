-- When the current (or last) lease began, so the run-time histogram can measure leased -> ack/nack
-- and an expired lease. NULL for jobs never leased, and for leases taken before this migration.

ALTER TABLE broker_jobs ADD COLUMN leased_at timestamptz;
