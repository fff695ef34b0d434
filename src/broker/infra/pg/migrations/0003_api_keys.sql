-- API keys: the SHA-256 of each token, never the token. Roles are the names in broker.entities.auth.

CREATE TABLE broker_api_keys (
    id          text PRIMARY KEY,            -- public: the second part of the token
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('producer', 'worker', 'admin')),
    token_hash  bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
