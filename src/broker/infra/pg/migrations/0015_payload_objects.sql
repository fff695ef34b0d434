-- Large payloads in object storage (S3-compatible). A job may hold a reference instead of the
-- bytes: "<sha256> <size> <key>" in payload_ref (payload then empty); payload_key is its key.
ALTER TABLE broker_jobs ADD COLUMN payload_ref text;
ALTER TABLE broker_jobs ADD COLUMN payload_key text
    GENERATED ALWAYS AS (substring(payload_ref FROM '^\S+ \S+ (.*)$')) STORED;
CREATE INDEX broker_jobs_payload_key ON broker_jobs (payload_key) WHERE payload_key IS NOT NULL;

-- Every object the broker made a key for (CreateUpload, streamed uploads, offloaded payloads).
-- expires_at: the collector deletes the object after it unless a job references it; NULL while
-- one does (set by the insert trigger below); -infinity once its jobs were deleted.
CREATE TABLE broker_payloads (
    key text PRIMARY KEY,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    verified boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);
CREATE INDEX broker_payloads_expiry ON broker_payloads (expires_at) WHERE expires_at IS NOT NULL;

-- A job that references an object keeps it: its insert clears the expiry in the same
-- transaction, after taking the record's row lock (the collector skips locked rows and re-checks
-- that no job references a key before it forgets it). A reference whose record is gone (the
-- collector took it first) fails the insert: nothing is enqueued that names a deleted object.
CREATE FUNCTION broker_payloads_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE broker_payloads SET expires_at = NULL
    WHERE key IN (SELECT payload_key FROM new_jobs WHERE payload_key IS NOT NULL) AND expires_at IS NOT NULL;
    IF EXISTS (SELECT 1 FROM new_jobs n WHERE n.payload_key IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM broker_payloads p WHERE p.key = n.payload_key)) THEN
        RAISE EXCEPTION 'payload_ref names an upload that expired' USING ERRCODE = 'BRK01';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER broker_jobs_payload_referenced AFTER INSERT ON broker_jobs
    REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION broker_payloads_referenced();

-- A deleted job (purged, pruned) lets its object go at once; the collector deletes it when no
-- other job references it. Dead jobs are not deleted until purged, so they keep their objects.
CREATE FUNCTION broker_payloads_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE broker_payloads SET expires_at = '-infinity'
    WHERE key IN (SELECT payload_key FROM old_jobs WHERE payload_key IS NOT NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER broker_jobs_payload_released AFTER DELETE ON broker_jobs
    REFERENCING OLD TABLE AS old_jobs FOR EACH STATEMENT EXECUTE FUNCTION broker_payloads_released();
