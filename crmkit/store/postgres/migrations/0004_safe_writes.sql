-- As SQLite's 0017: scoped, expiring tokens; idempotency keys; shared rate-limit buckets.
ALTER TABLE tokens ADD COLUMN scopes text COLLATE "C" NOT NULL DEFAULT 'read write admin';
ALTER TABLE tokens ADD COLUMN expires_at bigint;
ALTER TABLE oauth_codes ADD COLUMN scopes text COLLATE "C" NOT NULL DEFAULT 'read write admin';
ALTER TABLE oauth_grants ADD COLUMN scopes text COLLATE "C" NOT NULL DEFAULT 'read write admin';

CREATE TABLE idempotency (
    workspace_id text COLLATE "C" NOT NULL,
    user_id      text COLLATE "C" NOT NULL,
    key          text COLLATE "C" NOT NULL,
    fingerprint  bytea NOT NULL,
    created_at   bigint NOT NULL,
    status       integer,
    headers      text COLLATE "C",
    body         bytea,
    PRIMARY KEY (workspace_id, user_id, key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);

CREATE TABLE rate_buckets (
    key        text COLLATE "C" PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at double precision NOT NULL
);
