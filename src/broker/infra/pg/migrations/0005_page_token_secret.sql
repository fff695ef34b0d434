-- Secrets every replica shares, made once by the database. 'page_token' signs the page tokens
-- of ListJobs (src/broker/usecases/paging.py): 48 bytes from PostgreSQL's strong random source
-- (gen_random_uuid: 122 random bits each). Replacing the row (and restarting the brokers)
-- rotates it; tokens signed with the old one are then refused and listings start again.
CREATE TABLE broker_secrets (
    name text PRIMARY KEY,
    secret bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO broker_secrets (name, secret)
VALUES ('page_token', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text
                                     || gen_random_uuid()::text, '-', ''), 'hex'));
