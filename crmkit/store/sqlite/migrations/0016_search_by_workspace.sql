-- Every search walks the caller's workspace alone. The trigram index (contacts_fts ...) held
-- one list of rows per trigram for every workspace together: a search that found nothing in
-- its own workspace took 11.9 ms when another held 20,000 matches, 1.5 ms when none did, which
-- told one tenant about another's data.
-- Now each record keeps its indexed text and that text folded (search_text, search_fold, as on
-- PostgreSQL), and a new index (<type>_grams) holds a token per trigram of the folded text,
-- qualified by its workspace (store/sqlite/words.py): a word's candidates are the rows holding
-- all its trigrams, each then checked on its own folded text. The index keeps no copy of its
-- tokens (content=''): they follow from search_fold and the workspace, so the app removes a
-- record's row itself by giving them again ('delete'); a row left behind by a delete made
-- around the app names a record that no longer exists and is never a match. A search of words
-- shorter than three characters walks the workspace's records, newest first.
-- words.rebuild fills the columns and the new index, in this migration's transaction
-- (schema.py).
ALTER TABLE contacts ADD COLUMN search_text TEXT;
ALTER TABLE contacts ADD COLUMN search_fold TEXT;
ALTER TABLE companies ADD COLUMN search_text TEXT;
ALTER TABLE companies ADD COLUMN search_fold TEXT;
ALTER TABLE deals ADD COLUMN search_text TEXT;
ALTER TABLE deals ADD COLUMN search_fold TEXT;

CREATE VIRTUAL TABLE contacts_grams USING fts5(
    terms, tokenize='unicode61 remove_diacritics 0', detail=none, columnsize=0, content=''
);
CREATE VIRTUAL TABLE companies_grams USING fts5(
    terms, tokenize='unicode61 remove_diacritics 0', detail=none, columnsize=0, content=''
);
CREATE VIRTUAL TABLE deals_grams USING fts5(
    terms, tokenize='unicode61 remove_diacritics 0', detail=none, columnsize=0, content=''
);
INSERT INTO contacts_grams (contacts_grams, rank) VALUES ('automerge', 8);
INSERT INTO companies_grams (companies_grams, rank) VALUES ('automerge', 8);
INSERT INTO deals_grams (deals_grams, rank) VALUES ('automerge', 8);

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
