-- Flow control beyond pause and the global limit (issue #12): a concurrency key per job with a
-- limit per key, and a rate limit per queue kept as a token bucket. Both are obeyed inside the
-- claim of every replica, under the queue row's lock (infra/pg/claims.py).

ALTER TABLE broker_jobs ADD COLUMN concurrency_key text;

-- The RUNNING jobs per key, counted by the claim of a queue with a per-key limit. Partial: jobs
-- without a key (every job of a queue nobody configured) are not in it and cost it nothing.
CREATE INDEX broker_jobs_running_keys ON broker_jobs (queue, concurrency_key)
    WHERE state = 'running' AND concurrency_key IS NOT NULL;

-- rate_tokens as they were at rate_refilled_at; the claim refills them at rate_limit per second
-- up to rate_burst, using its own `now` (the broker's clock), and takes one per leased job.
ALTER TABLE broker_queues
    ADD COLUMN per_key_concurrency integer CHECK (per_key_concurrency > 0),
    ADD COLUMN rate_limit double precision CHECK (rate_limit > 0),
    ADD COLUMN rate_burst integer CHECK (rate_burst > 0),
    ADD COLUMN rate_tokens double precision,
    ADD COLUMN rate_refilled_at timestamptz,
    ADD CONSTRAINT broker_queues_rate CHECK ((rate_limit IS NULL) = (rate_burst IS NULL)
        AND (rate_limit IS NULL) = (rate_tokens IS NULL) AND (rate_limit IS NULL) = (rate_refilled_at IS NULL));

ALTER TABLE broker_queue_events
    ADD COLUMN per_key_concurrency_before integer,
    ADD COLUMN per_key_concurrency integer,
    ADD COLUMN rate_limit_before double precision,
    ADD COLUMN rate_limit double precision,
    ADD COLUMN rate_burst_before integer,
    ADD COLUMN rate_burst integer;

-- broker_enqueue (0008) takes a concurrency_key, as its last argument: calls that name their
-- arguments, or pass them in order, keep working.
DROP FUNCTION broker_enqueue(text, text, bytea, jsonb, text, integer, timestamptz, integer,
    double precision, integer, double precision, double precision, double precision, text);

CREATE FUNCTION broker_enqueue(
    queue              text,
    kind               text,
    payload            bytea DEFAULT '\x',
    headers            jsonb DEFAULT NULL,            -- an object of strings
    idempotency_key    text DEFAULT NULL,
    priority           integer DEFAULT 0,             -- lower runs first
    run_at             timestamptz DEFAULT NULL,      -- NULL: now
    max_attempts       integer DEFAULT NULL,          -- NULL: the queue's default, and so on below
    lease_duration     double precision DEFAULT NULL, -- seconds
    max_lease_expiries integer DEFAULT NULL,
    retry_initial      double precision DEFAULT NULL, -- seconds
    retry_max          double precision DEFAULT NULL, -- seconds
    retry_multiplier   double precision DEFAULT NULL,
    retry_jitter       text DEFAULT NULL,             -- 'none', 'full' or 'equal'
    concurrency_key    text DEFAULT NULL              -- the queue's per_key_concurrency applies to it
) RETURNS uuid LANGUAGE plpgsql AS $$
#variable_conflict use_column
-- The arguments are named broker_enqueue.<name>: the jobs' columns have the same names.
DECLARE
    lim broker_enqueue_limits;
    d broker_queue_defaults;
    new_key text := nullif(broker_enqueue.idempotency_key, '');
    ckey text := nullif(broker_enqueue.concurrency_key, '');
    hdrs jsonb := nullif(broker_enqueue.headers, '{}'::jsonb);
    body bytea := coalesce(broker_enqueue.payload, '\x');
    now_at timestamptz := now();
    job_id uuid;
BEGIN
    SELECT * INTO lim FROM broker_enqueue_limits;
    IF coalesce(broker_enqueue.queue, '') = '' THEN
        PERFORM broker_enqueue_refuse('queue', 'must not be empty');
    END IF;
    IF length(broker_enqueue.queue) > lim.max_queue_name_length OR broker_enqueue.queue !~ '^[A-Za-z0-9._-]+$' THEN
        PERFORM broker_enqueue_refuse('queue', quote_literal(left(broker_enqueue.queue, lim.max_queue_name_length + 12))
            || ' is not 1-' || lim.max_queue_name_length || ' characters of letters, digits, ''.'', ''_'', ''-''');
    END IF;
    IF coalesce(broker_enqueue.kind, '') = '' THEN
        PERFORM broker_enqueue_refuse('kind', 'must not be empty');
    END IF;
    IF length(broker_enqueue.kind) > lim.max_kind_length THEN
        PERFORM broker_enqueue_refuse('kind', 'is ' || length(broker_enqueue.kind) || ' characters; at most ' || lim.max_kind_length);
    END IF;
    IF octet_length(body) > lim.max_payload_bytes THEN
        PERFORM broker_enqueue_refuse('payload', octet_length(body) || ' bytes is over the limit of '
            || lim.max_payload_bytes || ' bytes');
    END IF;
    IF hdrs IS NOT NULL THEN
        IF jsonb_typeof(hdrs) <> 'object' OR EXISTS (SELECT FROM jsonb_each(hdrs) h WHERE jsonb_typeof(h.value) <> 'string') THEN
            PERFORM broker_enqueue_refuse('headers', 'must be a JSON object of strings');
        END IF;
        IF (SELECT sum(octet_length(h.key) + octet_length(h.value)) FROM jsonb_each_text(hdrs) h) > lim.max_headers_bytes THEN
            PERFORM broker_enqueue_refuse('headers', 'over the limit of ' || lim.max_headers_bytes || ' bytes');
        END IF;
    END IF;
    IF length(new_key) > lim.max_key_length THEN
        PERFORM broker_enqueue_refuse('idempotency_key', 'is ' || length(new_key) || ' characters; at most ' || lim.max_key_length);
    END IF;

    IF length(ckey) > lim.max_key_length THEN
        PERFORM broker_enqueue_refuse('concurrency_key', 'is ' || length(ckey) || ' characters; at most ' || lim.max_key_length);
    END IF;

    SELECT * INTO d FROM broker_queue_defaults q WHERE q.queue IN (broker_enqueue.queue, '*')
        ORDER BY q.queue = '*' LIMIT 1;
    d.max_attempts := coalesce(broker_enqueue.max_attempts, d.max_attempts);
    d.lease_duration := coalesce(broker_enqueue.lease_duration, d.lease_duration);
    d.max_lease_expiries := coalesce(broker_enqueue.max_lease_expiries, d.max_lease_expiries);
    d.retry_initial := coalesce(broker_enqueue.retry_initial, d.retry_initial);
    d.retry_max := coalesce(broker_enqueue.retry_max, d.retry_max);
    d.retry_multiplier := coalesce(broker_enqueue.retry_multiplier, d.retry_multiplier);
    d.retry_jitter := coalesce(broker_enqueue.retry_jitter, d.retry_jitter);
    IF NOT d.max_attempts BETWEEN 1 AND lim.max_attempts THEN
        PERFORM broker_enqueue_refuse('max_attempts', d.max_attempts || ' is outside 1 to ' || lim.max_attempts);
    END IF;
    IF d.lease_duration = 'NaN' OR NOT d.lease_duration BETWEEN lim.min_lease AND lim.max_lease THEN
        PERFORM broker_enqueue_refuse('lease_duration', d.lease_duration || 's is outside '
            || lim.min_lease || 's to ' || lim.max_lease || 's');
    END IF;
    IF NOT d.max_lease_expiries BETWEEN 1 AND lim.max_attempts THEN
        PERFORM broker_enqueue_refuse('max_lease_expiries', d.max_lease_expiries || ' is outside 1 to ' || lim.max_attempts);
    END IF;
    -- As entities/retry.py RetryPolicy, and at most ten years (entities/queue.py MAX_DURATION).
    IF d.retry_initial = 'NaN' OR NOT d.retry_initial BETWEEN 0 AND 316224000 THEN
        PERFORM broker_enqueue_refuse('retry_initial', 'must be 0 to 316224000 seconds');
    END IF;
    IF d.retry_max = 'NaN' OR NOT d.retry_max BETWEEN d.retry_initial AND 316224000 THEN
        PERFORM broker_enqueue_refuse('retry_max', 'must be at least retry_initial and at most 316224000 seconds');
    END IF;
    IF d.retry_multiplier = 'NaN' OR NOT d.retry_multiplier BETWEEN 1 AND 1000 THEN
        PERFORM broker_enqueue_refuse('retry_multiplier', 'must be between 1 and 1000');
    END IF;
    IF d.retry_jitter NOT IN ('none', 'full', 'equal') THEN
        PERFORM broker_enqueue_refuse('retry_jitter', quote_literal(d.retry_jitter) || ' is not none, full or equal');
    END IF;

    -- The rows of sql.py ENQUEUE: the job, PENDING, and its 'enqueue' event.
    INSERT INTO broker_jobs (id, queue, kind, payload, headers, idempotency_key, priority, state,
        run_at, max_attempts, retry_initial, retry_max, retry_multiplier, retry_jitter,
        lease_duration, max_lease_expiries, concurrency_key, created_at, updated_at)
    VALUES (gen_random_uuid(), broker_enqueue.queue, broker_enqueue.kind, body, hdrs, new_key,
        coalesce(broker_enqueue.priority, 0), 'pending', coalesce(broker_enqueue.run_at, now_at),
        d.max_attempts, d.retry_initial, d.retry_max, d.retry_multiplier, d.retry_jitter,
        d.lease_duration, d.max_lease_expiries, ckey, now_at, now_at)
    ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id INTO job_id;
    IF job_id IS NULL THEN  -- the queue holds the key: that job's id
        SELECT j.id INTO job_id FROM broker_jobs j
        WHERE j.queue = broker_enqueue.queue AND j.idempotency_key = new_key;
        RETURN job_id;
    END IF;
    INSERT INTO broker_events (job_id, queue, from_state, to_state, reason, attempt, worker_id, error, at)
    VALUES (job_id, broker_enqueue.queue, NULL, 'pending', 'enqueue', 0, NULL, NULL, now_at);
    RETURN job_id;
END $$;
