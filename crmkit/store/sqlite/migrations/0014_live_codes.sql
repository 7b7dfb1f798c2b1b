-- Up to three live codes per key: a new request no longer voids a code that is still valid
-- (a stranger asking for someone's code killed the one they were about to type), and a
-- request while three are live sends nothing (the mail a victim can get is bounded).
-- Codes live 10 minutes: the ones pending at this upgrade are dropped, not carried over.
DROP TABLE codes;
CREATE TABLE codes (
    key        TEXT NOT NULL,
    digest     BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key, digest)
) WITHOUT ROWID;
