-- OAuth 2.1 for MCP connectors: registered public clients, authorization codes, grants
-- (one per approval: the family of an access token and its rotating refresh tokens) and the
-- used nonces of the sign-in page's signed flow state (so each form state works once).

CREATE TABLE oauth_clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,           -- JSON array, matched exactly
    created_at    INTEGER NOT NULL
);

CREATE TABLE oauth_grants (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    token_id     TEXT,                     -- the current ck_ access token of this family
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX oauth_grants_by_token ON oauth_grants (token_id);

CREATE TABLE oauth_codes (
    hash           BLOB PRIMARY KEY,       -- SHA-256 of the code; the code itself is never kept
    client_id      TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    workspace_id   TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    grant_id       TEXT                    -- set at redemption, so a replay can revoke it
);

CREATE TABLE oauth_refresh_tokens (
    hash       BLOB PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER                     -- rotated; presenting it again revokes the family
);
CREATE INDEX oauth_refresh_by_grant ON oauth_refresh_tokens (grant_id);

CREATE TABLE oauth_used_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
