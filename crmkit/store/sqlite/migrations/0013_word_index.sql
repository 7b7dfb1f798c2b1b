-- The word index (store/sqlite/words.py): every substring of five to 32 letters of each record's
-- words as a token of its own, qualified by its workspace, beside the trigram index. A search
-- whose words are all five letters or more is counted and ranked here without reading a
-- record per match. Row lists only (detail=none): no query asks for positions or columns.
-- Rows for the records already kept are written by words.backfill, in this migration's
-- transaction (schema.py).
CREATE VIRTUAL TABLE contacts_words USING fts5(
    terms, tokenize='unicode61 remove_diacritics 0', detail=none, columnsize=0
);
CREATE VIRTUAL TABLE companies_words USING fts5(
    terms, tokenize='unicode61 remove_diacritics 0', detail=none, columnsize=0
);
CREATE VIRTUAL TABLE deals_words USING fts5(
    terms, tokenize='unicode61 remove_diacritics 0', detail=none, columnsize=0
);

CREATE TRIGGER contacts_words_delete AFTER DELETE ON contacts BEGIN
    DELETE FROM contacts_words WHERE rowid = -old.seq;
END;
CREATE TRIGGER companies_words_delete AFTER DELETE ON companies BEGIN
    DELETE FROM companies_words WHERE rowid = -old.seq;
END;
CREATE TRIGGER deals_words_delete AFTER DELETE ON deals BEGIN
    DELETE FROM deals_words WHERE rowid = -old.seq;
END;

-- Merge a level's segments when 8 have gathered, not 4 (FTS5's default): a record's
-- search rows are rewritten in every write of its text, one commit each, and the default
-- merged so often that 3,000 renames at 100k contacts cost 1.86 ms each (p99 50 ms); with
-- 8, 1.38 (p99 27 ms), and a search page read 1.0 ms after them against 1.37
-- (PERFORMANCE.md, tenth pass).
INSERT INTO contacts_fts (contacts_fts, rank) VALUES ('automerge', 8);
INSERT INTO companies_fts (companies_fts, rank) VALUES ('automerge', 8);
INSERT INTO deals_fts (deals_fts, rank) VALUES ('automerge', 8);
INSERT INTO contacts_words (contacts_words, rank) VALUES ('automerge', 8);
INSERT INTO companies_words (companies_words, rank) VALUES ('automerge', 8);
INSERT INTO deals_words (deals_words, rank) VALUES ('automerge', 8);
