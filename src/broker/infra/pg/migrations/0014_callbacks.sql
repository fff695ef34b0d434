-- Outbound callbacks: the subscriptions (broker.entities.callback). A job's move that one of
-- them asks for inserts a delivery job on the internal queue `_broker.callbacks` in the same
-- statement as the move (infra/pg/callbacks_sql.py), so a committed move never loses its
-- deliveries. The secrets sign each delivery (Standard Webhooks); they are never returned.

CREATE TABLE broker_callbacks (
    name             text PRIMARY KEY,
    url              text NOT NULL,
    events           text[] NOT NULL,
    queue            text,                 -- NULL: every queue
    kind             text,                 -- NULL: every kind
    secrets          text[] NOT NULL,      -- one or two (rotation), the first is the newest
    -- The retry policy of the subscription's deliveries, fixed when it was created or updated.
    max_attempts     integer NOT NULL,
    retry_initial    double precision NOT NULL,
    retry_max        double precision NOT NULL,
    retry_multiplier double precision NOT NULL,
    retry_jitter     text NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Inbound webhook sources made through AdminService (broker.usecases.webhook_sources), beside
-- those of BROKER_WEBHOOK_SOURCES_FILE: POST /webhooks/{name} looks a name up here when the file
-- has none of it. The secrets verify deliveries; they are never returned.
CREATE TABLE broker_webhook_sources (
    name        text PRIMARY KEY,
    scheme      text NOT NULL,
    queue       text NOT NULL,
    kind        text NOT NULL,
    secrets     text[] NOT NULL,
    delivery_id text NOT NULL,
    headers     text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
