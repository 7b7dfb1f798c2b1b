-- Scoped, expiring tokens; idempotency keys; rate-limit buckets shared between processes.

-- A token's scopes, space-separated in the order read write admin (tokens made before scopes
-- existed keep all three). expires_at: a hard expiry on top of the idle one, if one was set.
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write admin';
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
-- What an OAuth approval granted; its codes carry it to the grant, the grant to its tokens.
ALTER TABLE oauth_codes ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write admin';
ALTER TABLE oauth_grants ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read write admin';

-- One row per Idempotency-Key of a user in a workspace, written in the transaction of the
-- write it guards: status NULL while that transaction runs, then the reply as sent.
CREATE TABLE idempotency (
    workspace_id TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    status       INTEGER,
    headers      TEXT,
    body         BLOB,
    PRIMARY KEY (workspace_id, user_id, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_age ON idempotency (created_at);

-- The API rate limits' buckets, shared by every process serving this database: each process
-- takes a lease of a few requests at a time from its bucket's row (web/ratelimit.py).
CREATE TABLE rate_buckets (
    key        TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
