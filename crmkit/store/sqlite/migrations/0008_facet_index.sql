-- Tag and custom-value filters find their records through an index. `tags=` and `custom.<key>=`
-- read every record's JSON: a value few records have read the whole workspace (188 and 107 ms
-- at 100k contacts). Each type's `<table>_facets` holds one row per (workspace, facet, value,
-- record): facet `tags` for each distinct tag as json_each() lists it, `custom.<key>` for each
-- top-level custom key a filter can name (1-64 letters, digits, _ or -), its value exactly as
-- the filter reads it: json_extract(custom, '$."<key>"') (the first of duplicated keys; text,
-- a number, 1/0 for true/false, minified JSON for a list or an object; nulls left out), and
-- whether that value is a JSON number (`number`: a range on a number skips true and false).
-- The triggers below keep it from every write path (the API, an import, an operator's shell);
-- a value that is not valid JSON indexes nothing rather than failing the write. A record's
-- rows are found again by its seq (the second index), whatever its JSON says now; an insert
-- clears its seq first, for an INSERT OR REPLACE that keeps the seq (delete triggers do not
-- fire for REPLACE).
-- Lists use it for values that few records have (store/records.py): walking the sort order
-- meets a page of a common value sooner than sorting all of its records.


CREATE TABLE contacts_facets (
    workspace_id TEXT NOT NULL,
    facet        TEXT NOT NULL,
    value        NOT NULL,
    seq          INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, facet, value, seq)
) WITHOUT ROWID;
CREATE INDEX contacts_facets_seq ON contacts_facets (seq);
INSERT OR IGNORE INTO contacts_facets (workspace_id, facet, value, seq, number)
    SELECT DISTINCT r.workspace_id, 'tags', j.value, r.seq, 0 FROM contacts r, json_each(CASE WHEN json_valid(r.tags) THEN r.tags END) j WHERE j.value IS NOT NULL;
INSERT OR IGNORE INTO contacts_facets (workspace_id, facet, value, seq, number)
    SELECT DISTINCT r.workspace_id, 'custom.' || j.key, json_extract(r.custom, '$."' || j.key || '"'), r.seq, json_type(r.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM contacts r, json_each(CASE WHEN json_valid(r.custom) AND json_type(r.custom) = 'object' THEN r.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(r.custom, '$."' || j.key || '"') IS NOT NULL;
CREATE TRIGGER contacts_facets_insert AFTER INSERT ON contacts BEGIN
    DELETE FROM contacts_facets WHERE seq = new.seq;
    INSERT OR IGNORE INTO contacts_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'tags', j.value, new.seq, 0 FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END) j WHERE j.value IS NOT NULL;
    INSERT OR IGNORE INTO contacts_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'custom.' || j.key, json_extract(new.custom, '$."' || j.key || '"'), new.seq, json_type(new.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM json_each(CASE WHEN json_valid(new.custom) AND json_type(new.custom) = 'object' THEN new.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(new.custom, '$."' || j.key || '"') IS NOT NULL;
END;
CREATE TRIGGER contacts_facets_tags AFTER UPDATE OF tags ON contacts
WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM contacts_facets WHERE seq = old.seq AND facet = 'tags';
    INSERT OR IGNORE INTO contacts_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'tags', j.value, new.seq, 0 FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END) j WHERE j.value IS NOT NULL;
END;
CREATE TRIGGER contacts_facets_custom AFTER UPDATE OF custom ON contacts
WHEN old.custom IS NOT new.custom BEGIN
    DELETE FROM contacts_facets WHERE seq = old.seq AND facet <> 'tags';
    INSERT OR IGNORE INTO contacts_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'custom.' || j.key, json_extract(new.custom, '$."' || j.key || '"'), new.seq, json_type(new.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM json_each(CASE WHEN json_valid(new.custom) AND json_type(new.custom) = 'object' THEN new.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(new.custom, '$."' || j.key || '"') IS NOT NULL;
END;
CREATE TRIGGER contacts_facets_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM contacts_facets WHERE seq = old.seq;
END;

CREATE TABLE companies_facets (
    workspace_id TEXT NOT NULL,
    facet        TEXT NOT NULL,
    value        NOT NULL,
    seq          INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, facet, value, seq)
) WITHOUT ROWID;
CREATE INDEX companies_facets_seq ON companies_facets (seq);
INSERT OR IGNORE INTO companies_facets (workspace_id, facet, value, seq, number)
    SELECT DISTINCT r.workspace_id, 'tags', j.value, r.seq, 0 FROM companies r, json_each(CASE WHEN json_valid(r.tags) THEN r.tags END) j WHERE j.value IS NOT NULL;
INSERT OR IGNORE INTO companies_facets (workspace_id, facet, value, seq, number)
    SELECT DISTINCT r.workspace_id, 'custom.' || j.key, json_extract(r.custom, '$."' || j.key || '"'), r.seq, json_type(r.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM companies r, json_each(CASE WHEN json_valid(r.custom) AND json_type(r.custom) = 'object' THEN r.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(r.custom, '$."' || j.key || '"') IS NOT NULL;
CREATE TRIGGER companies_facets_insert AFTER INSERT ON companies BEGIN
    DELETE FROM companies_facets WHERE seq = new.seq;
    INSERT OR IGNORE INTO companies_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'tags', j.value, new.seq, 0 FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END) j WHERE j.value IS NOT NULL;
    INSERT OR IGNORE INTO companies_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'custom.' || j.key, json_extract(new.custom, '$."' || j.key || '"'), new.seq, json_type(new.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM json_each(CASE WHEN json_valid(new.custom) AND json_type(new.custom) = 'object' THEN new.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(new.custom, '$."' || j.key || '"') IS NOT NULL;
END;
CREATE TRIGGER companies_facets_tags AFTER UPDATE OF tags ON companies
WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM companies_facets WHERE seq = old.seq AND facet = 'tags';
    INSERT OR IGNORE INTO companies_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'tags', j.value, new.seq, 0 FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END) j WHERE j.value IS NOT NULL;
END;
CREATE TRIGGER companies_facets_custom AFTER UPDATE OF custom ON companies
WHEN old.custom IS NOT new.custom BEGIN
    DELETE FROM companies_facets WHERE seq = old.seq AND facet <> 'tags';
    INSERT OR IGNORE INTO companies_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'custom.' || j.key, json_extract(new.custom, '$."' || j.key || '"'), new.seq, json_type(new.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM json_each(CASE WHEN json_valid(new.custom) AND json_type(new.custom) = 'object' THEN new.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(new.custom, '$."' || j.key || '"') IS NOT NULL;
END;
CREATE TRIGGER companies_facets_delete AFTER DELETE ON companies BEGIN
    DELETE FROM companies_facets WHERE seq = old.seq;
END;

CREATE TABLE deals_facets (
    workspace_id TEXT NOT NULL,
    facet        TEXT NOT NULL,
    value        NOT NULL,
    seq          INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, facet, value, seq)
) WITHOUT ROWID;
CREATE INDEX deals_facets_seq ON deals_facets (seq);
INSERT OR IGNORE INTO deals_facets (workspace_id, facet, value, seq, number)
    SELECT DISTINCT r.workspace_id, 'tags', j.value, r.seq, 0 FROM deals r, json_each(CASE WHEN json_valid(r.tags) THEN r.tags END) j WHERE j.value IS NOT NULL;
INSERT OR IGNORE INTO deals_facets (workspace_id, facet, value, seq, number)
    SELECT DISTINCT r.workspace_id, 'custom.' || j.key, json_extract(r.custom, '$."' || j.key || '"'), r.seq, json_type(r.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM deals r, json_each(CASE WHEN json_valid(r.custom) AND json_type(r.custom) = 'object' THEN r.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(r.custom, '$."' || j.key || '"') IS NOT NULL;
CREATE TRIGGER deals_facets_insert AFTER INSERT ON deals BEGIN
    DELETE FROM deals_facets WHERE seq = new.seq;
    INSERT OR IGNORE INTO deals_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'tags', j.value, new.seq, 0 FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END) j WHERE j.value IS NOT NULL;
    INSERT OR IGNORE INTO deals_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'custom.' || j.key, json_extract(new.custom, '$."' || j.key || '"'), new.seq, json_type(new.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM json_each(CASE WHEN json_valid(new.custom) AND json_type(new.custom) = 'object' THEN new.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(new.custom, '$."' || j.key || '"') IS NOT NULL;
END;
CREATE TRIGGER deals_facets_tags AFTER UPDATE OF tags ON deals
WHEN old.tags IS NOT new.tags BEGIN
    DELETE FROM deals_facets WHERE seq = old.seq AND facet = 'tags';
    INSERT OR IGNORE INTO deals_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'tags', j.value, new.seq, 0 FROM json_each(CASE WHEN json_valid(new.tags) THEN new.tags END) j WHERE j.value IS NOT NULL;
END;
CREATE TRIGGER deals_facets_custom AFTER UPDATE OF custom ON deals
WHEN old.custom IS NOT new.custom BEGIN
    DELETE FROM deals_facets WHERE seq = old.seq AND facet <> 'tags';
    INSERT OR IGNORE INTO deals_facets (workspace_id, facet, value, seq, number)
        SELECT DISTINCT new.workspace_id, 'custom.' || j.key, json_extract(new.custom, '$."' || j.key || '"'), new.seq, json_type(new.custom, '$."' || j.key || '"') IN ('integer', 'real') FROM json_each(CASE WHEN json_valid(new.custom) AND json_type(new.custom) = 'object' THEN new.custom END) j WHERE length(j.key) BETWEEN 1 AND 64 AND j.key NOT GLOB '*[^A-Za-z0-9_-]*' AND json_extract(new.custom, '$."' || j.key || '"') IS NOT NULL;
END;
CREATE TRIGGER deals_facets_delete AFTER DELETE ON deals BEGIN
    DELETE FROM deals_facets WHERE seq = old.seq;
END;
