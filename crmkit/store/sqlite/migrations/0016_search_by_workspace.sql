-- Every search walks the caller's workspace alone. The trigram index (contacts_fts ...) held
-- one list of rows per trigram for every workspace together: a search that found nothing in
-- its own workspace took 11.9 ms when another held 20,000 matches, 1.5 ms when none did, which
-- told one tenant about another's data. Its role moves to the word index, whose tokens all
-- start with a qualifier of their workspace: it gains a token per trigram of each record's
-- folded text (store/sqlite/words.py), and each record keeps its indexed text and that text
-- folded (search_text, search_fold), so a candidate is checked on its own row. A search of
-- words shorter than three characters walks the workspace's records, newest first.
-- words.rebuild fills the columns and rewrites every word-index row, in this migration's
-- transaction (schema.py): about two minutes at a million contacts.
ALTER TABLE contacts ADD COLUMN search_text TEXT;
ALTER TABLE contacts ADD COLUMN search_fold TEXT;
ALTER TABLE companies ADD COLUMN search_text TEXT;
ALTER TABLE companies ADD COLUMN search_fold TEXT;
ALTER TABLE deals ADD COLUMN search_text TEXT;
ALTER TABLE deals ADD COLUMN search_fold TEXT;

-- newest first within a workspace: rowid (seq) follows workspace_id in this index
CREATE INDEX contacts_by_workspace ON contacts (workspace_id);
CREATE INDEX companies_by_workspace ON companies (workspace_id);
CREATE INDEX deals_by_workspace ON deals (workspace_id);

-- A deleted record still takes its activities along; the trigger that did it also dropped
-- the trigram row.
DROP TRIGGER contacts_fts_delete;
DROP TRIGGER companies_fts_delete;
DROP TRIGGER deals_fts_delete;
CREATE TRIGGER contacts_activities_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM activities WHERE target_id = old.id;
END;
CREATE TRIGGER companies_activities_delete AFTER DELETE ON companies BEGIN
    DELETE FROM activities WHERE target_id = old.id;
END;
CREATE TRIGGER deals_activities_delete AFTER DELETE ON deals BEGIN
    DELETE FROM activities WHERE target_id = old.id;
END;
DROP TABLE contacts_fts;
DROP TABLE companies_fts;
DROP TABLE deals_fts;
