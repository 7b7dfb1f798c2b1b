-- The word index (store/words.py): every substring of five to 32 letters of each record's
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
