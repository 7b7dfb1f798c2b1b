-- The word index (store/words.py): each record's runs of letters with their suffixes of five
-- letters or more, every token qualified by its workspace, beside the trigram index. A search
-- whose words are all five letters or more is counted and ranked here without reading a
-- record per match. Rows for the records already kept are written by words.backfill, in this
-- migration's transaction (schema.py).
CREATE VIRTUAL TABLE contacts_words USING fts5(
    exact, name, subs, other, tokenize='unicode61 remove_diacritics 0', columnsize=0
);
CREATE VIRTUAL TABLE companies_words USING fts5(
    exact, name, subs, other, tokenize='unicode61 remove_diacritics 0', columnsize=0
);
CREATE VIRTUAL TABLE deals_words USING fts5(
    exact, name, subs, other, tokenize='unicode61 remove_diacritics 0', columnsize=0
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
