-- CRM records: contacts, companies, deals, their activities and the search index.
-- Columns follow crmkit/spec.py (same order). Times are INTEGER epoch seconds; tags and custom
-- are JSON text. `seq` is the rowid the search index points at (AUTOINCREMENT: never reused,
-- so a stale index row can never name a newer record).
-- Every list filters by workspace first; each index below starts with workspace_id and ends
-- with id, so a filtered, sorted page is one index range scan (keyset: (sort, id) > cursor).

CREATE TABLE contacts (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name             TEXT,
    email            TEXT,
    phone            TEXT,
    title            TEXT,
    company_id       TEXT REFERENCES companies(id) ON DELETE SET NULL,
    stage            TEXT,
    owner            TEXT,
    tags             TEXT,
    custom           TEXT,
    follow_up_at     INTEGER,
    follow_up_note   TEXT,
    activity_count   INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    created_by       TEXT,
    version          INTEGER NOT NULL DEFAULT 1
);
-- The upsert key: one contact per email per workspace, compared case-insensitively.
CREATE UNIQUE INDEX contacts_email ON contacts (workspace_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX contacts_created ON contacts (workspace_id, created_at, id);
CREATE INDEX contacts_updated ON contacts (workspace_id, updated_at, id);
CREATE INDEX contacts_stage ON contacts (workspace_id, stage, created_at, id);
CREATE INDEX contacts_name ON contacts (workspace_id, name, id);
CREATE INDEX contacts_owner ON contacts (workspace_id, owner, created_at, id);
-- Relations: led by the (globally unique) target id, so they serve both the filter
-- (?company_id=...&sort=-created_at) and the ON DELETE SET NULL lookup.
CREATE INDEX contacts_company ON contacts (company_id, created_at, id);
CREATE INDEX contacts_follow_up ON contacts (workspace_id, follow_up_at) WHERE follow_up_at IS NOT NULL;

CREATE TABLE companies (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name             TEXT,
    domain           TEXT,
    notes            TEXT,
    tags             TEXT,
    custom           TEXT,
    follow_up_at     INTEGER,
    follow_up_note   TEXT,
    activity_count   INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    created_by       TEXT,
    version          INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX companies_domain ON companies (workspace_id, domain) WHERE domain IS NOT NULL;
CREATE INDEX companies_created ON companies (workspace_id, created_at, id);
CREATE INDEX companies_updated ON companies (workspace_id, updated_at, id);
CREATE INDEX companies_name ON companies (workspace_id, name COLLATE NOCASE, id);
CREATE INDEX companies_name_exact ON companies (workspace_id, name, id);
CREATE INDEX companies_follow_up ON companies (workspace_id, follow_up_at) WHERE follow_up_at IS NOT NULL;

CREATE TABLE deals (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    title            TEXT,
    amount_cents     INTEGER,
    currency         TEXT,
    contact_id       TEXT REFERENCES contacts(id) ON DELETE SET NULL,
    company_id       TEXT REFERENCES companies(id) ON DELETE SET NULL,
    stage            TEXT,
    status           TEXT,
    close_date       TEXT,
    tags             TEXT,
    custom           TEXT,
    follow_up_at     INTEGER,
    follow_up_note   TEXT,
    activity_count   INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    created_by       TEXT,
    version          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX deals_created ON deals (workspace_id, created_at, id);
CREATE INDEX deals_updated ON deals (workspace_id, updated_at, id);
CREATE INDEX deals_stage ON deals (workspace_id, stage, created_at, id);
CREATE INDEX deals_status ON deals (workspace_id, status, created_at, id);
CREATE INDEX deals_amount ON deals (workspace_id, amount_cents, id);
CREATE INDEX deals_close ON deals (workspace_id, close_date, id);
CREATE INDEX deals_title ON deals (workspace_id, title, id);
CREATE INDEX deals_contact ON deals (contact_id, created_at, id);
CREATE INDEX deals_company ON deals (company_id, created_at, id);
CREATE INDEX deals_follow_up ON deals (workspace_id, follow_up_at) WHERE follow_up_at IS NOT NULL;

CREATE TABLE activities (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL,
    at           INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT
);
CREATE INDEX activities_by_target ON activities (target_id, at, seq);
CREATE INDEX activities_by_workspace ON activities (workspace_id, at, seq);

-- Search: one FTS5 trigram index per type (substrings of any field worth searching), keyed by
-- the record's seq; `ws` (not indexed) holds the workspace id, checked on every match.
CREATE VIRTUAL TABLE contacts_fts USING fts5(ws UNINDEXED, body, tokenize='trigram');
CREATE VIRTUAL TABLE companies_fts USING fts5(ws UNINDEXED, body, tokenize='trigram');
CREATE VIRTUAL TABLE deals_fts USING fts5(ws UNINDEXED, body, tokenize='trigram');

-- Typo tolerance: every word of >= 5 letters, stored under itself and each one-letter deletion
-- (a "deletion neighbourhood"). A query word finds words within one edit by looking up itself
-- and its own deletions; Python then checks the edit distance.
CREATE TABLE search_terms (
    workspace_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    variant      TEXT NOT NULL,
    term         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, kind, variant, term)
) WITHOUT ROWID;

-- A deleted record takes its index row with it, also when a workspace delete cascades.
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM contacts_fts WHERE rowid = old.seq;
    DELETE FROM activities WHERE target_id = old.id;
END;
CREATE TRIGGER companies_fts_delete AFTER DELETE ON companies BEGIN
    DELETE FROM companies_fts WHERE rowid = old.seq;
    DELETE FROM activities WHERE target_id = old.id;
END;
CREATE TRIGGER deals_fts_delete AFTER DELETE ON deals BEGIN
    DELETE FROM deals_fts WHERE rowid = old.seq;
    DELETE FROM activities WHERE target_id = old.id;
END;

-- A deleted workspace takes its search vocabulary along (records cascade on their own).
CREATE TRIGGER workspaces_search_terms_delete AFTER DELETE ON workspaces BEGIN
    DELETE FROM search_terms WHERE workspace_id = old.id;
END;
