-- Tag filters find their records through an index. `tags=` checked every record's JSON list:
-- a tag that few records carry read the whole workspace (188 ms at 100k contacts). Each
-- type's `<table>_tags` holds one row per (workspace, tag, record), kept by the triggers
-- below from the same json_each() the filter reads, so both always agree; a value that is
-- not valid JSON (written by other means) indexes nothing rather than failing the write.
-- The filter still reads the JSON when a tag is common (store/records.py: walking the sort
-- order finds a page of common tags sooner than sorting all of their records).

CREATE TABLE contacts_tags (
    workspace_id TEXT NOT NULL,
    tag          NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, tag, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO contacts_tags (workspace_id, tag, seq)
    SELECT r.workspace_id, j.value, r.seq
    FROM contacts r, json_each(CASE WHEN json_valid(r.tags) THEN r.tags END) j
    WHERE r.tags IS NOT NULL AND j.value IS NOT NULL;
CREATE TRIGGER contacts_tags_insert AFTER INSERT ON contacts WHEN new.tags IS NOT NULL BEGIN
    INSERT OR IGNORE INTO contacts_tags (workspace_id, tag, seq)
        SELECT new.workspace_id, value, new.seq
        FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END)
        WHERE value IS NOT NULL;
END;
CREATE TRIGGER contacts_tags_update AFTER UPDATE OF tags ON contacts
WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM contacts_tags WHERE workspace_id = old.workspace_id AND seq = old.seq
        AND tag IN (SELECT value FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags END));
    INSERT OR IGNORE INTO contacts_tags (workspace_id, tag, seq)
        SELECT new.workspace_id, value, new.seq
        FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END)
        WHERE value IS NOT NULL;
END;
CREATE TRIGGER contacts_tags_delete AFTER DELETE ON contacts WHEN old.tags IS NOT NULL BEGIN
    DELETE FROM contacts_tags WHERE workspace_id = old.workspace_id AND seq = old.seq
        AND tag IN (SELECT value FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags END));
END;

CREATE TABLE companies_tags (
    workspace_id TEXT NOT NULL,
    tag          NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, tag, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO companies_tags (workspace_id, tag, seq)
    SELECT r.workspace_id, j.value, r.seq
    FROM companies r, json_each(CASE WHEN json_valid(r.tags) THEN r.tags END) j
    WHERE r.tags IS NOT NULL AND j.value IS NOT NULL;
CREATE TRIGGER companies_tags_insert AFTER INSERT ON companies WHEN new.tags IS NOT NULL BEGIN
    INSERT OR IGNORE INTO companies_tags (workspace_id, tag, seq)
        SELECT new.workspace_id, value, new.seq
        FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END)
        WHERE value IS NOT NULL;
END;
CREATE TRIGGER companies_tags_update AFTER UPDATE OF tags ON companies
WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM companies_tags WHERE workspace_id = old.workspace_id AND seq = old.seq
        AND tag IN (SELECT value FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags END));
    INSERT OR IGNORE INTO companies_tags (workspace_id, tag, seq)
        SELECT new.workspace_id, value, new.seq
        FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END)
        WHERE value IS NOT NULL;
END;
CREATE TRIGGER companies_tags_delete AFTER DELETE ON companies WHEN old.tags IS NOT NULL BEGIN
    DELETE FROM companies_tags WHERE workspace_id = old.workspace_id AND seq = old.seq
        AND tag IN (SELECT value FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags END));
END;

CREATE TABLE deals_tags (
    workspace_id TEXT NOT NULL,
    tag          NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, tag, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO deals_tags (workspace_id, tag, seq)
    SELECT r.workspace_id, j.value, r.seq
    FROM deals r, json_each(CASE WHEN json_valid(r.tags) THEN r.tags END) j
    WHERE r.tags IS NOT NULL AND j.value IS NOT NULL;
CREATE TRIGGER deals_tags_insert AFTER INSERT ON deals WHEN new.tags IS NOT NULL BEGIN
    INSERT OR IGNORE INTO deals_tags (workspace_id, tag, seq)
        SELECT new.workspace_id, value, new.seq
        FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END)
        WHERE value IS NOT NULL;
END;
CREATE TRIGGER deals_tags_update AFTER UPDATE OF tags ON deals
WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM deals_tags WHERE workspace_id = old.workspace_id AND seq = old.seq
        AND tag IN (SELECT value FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags END));
    INSERT OR IGNORE INTO deals_tags (workspace_id, tag, seq)
        SELECT new.workspace_id, value, new.seq
        FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END)
        WHERE value IS NOT NULL;
END;
CREATE TRIGGER deals_tags_delete AFTER DELETE ON deals WHEN old.tags IS NOT NULL BEGIN
    DELETE FROM deals_tags WHERE workspace_id = old.workspace_id AND seq = old.seq
        AND tag IN (SELECT value FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags END));
END;
