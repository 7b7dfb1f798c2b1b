-- Up to three live codes per key (as SQLite's 0014): a new request no longer voids a code
-- that is still valid, and a request while three are live sends nothing.
DELETE FROM codes;
ALTER TABLE codes DROP CONSTRAINT codes_pkey;
ALTER TABLE codes ADD PRIMARY KEY (key, digest);
