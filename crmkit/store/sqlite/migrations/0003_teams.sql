-- Teams: pending invitations by email, and the index the "workspaces you own" cap counts with.
-- An invite becomes a membership the next time someone signs in with its email.

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    invited_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (workspace_id, email)
);
CREATE INDEX invites_by_email ON invites (email);

CREATE INDEX workspaces_by_creator ON workspaces (created_by);
