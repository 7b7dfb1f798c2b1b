-- Each workspace's number of contacts, companies and deals, kept by triggers from every write
-- path. A plan's cap check counted the workspace's rows on each create, under the write lock
-- (5 ms a contact near the team plan's 50,000, holding up every other workspace's writes), and
-- /whoami counted all of them (94 ms at 1M contacts); both now read one row.
-- An INSERT OR REPLACE by other means over an existing record fires no delete trigger and counts
-- it twice: a cap check that finds the cap reached counts the rows themselves before refusing
-- (store/teams.py), so a count that drifted up never refuses a create that fits, and a recount
-- below the cap, being exact, is written back.
-- Records whose workspace row is gone (deleted from a shell with foreign keys off) are not
-- counted: no token reaches them, and counting them would fail this table's foreign key.

CREATE TABLE record_counts (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind)
) WITHOUT ROWID;

INSERT INTO record_counts (workspace_id, kind, n)
    SELECT workspace_id, 'contacts', count(*) FROM contacts
    WHERE workspace_id IN (SELECT id FROM workspaces) GROUP BY workspace_id;
CREATE TRIGGER contacts_counted AFTER INSERT ON contacts BEGIN
    INSERT INTO record_counts (workspace_id, kind, n) VALUES (new.workspace_id, 'contacts', 1)
        ON CONFLICT (workspace_id, kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER contacts_uncounted AFTER DELETE ON contacts BEGIN
    UPDATE record_counts SET n = n - 1 WHERE workspace_id = old.workspace_id AND kind = 'contacts';
END;
CREATE TRIGGER contacts_moved AFTER UPDATE OF workspace_id ON contacts
WHEN new.workspace_id IS NOT old.workspace_id BEGIN
    UPDATE record_counts SET n = n - 1 WHERE workspace_id = old.workspace_id AND kind = 'contacts';
    INSERT INTO record_counts (workspace_id, kind, n) VALUES (new.workspace_id, 'contacts', 1)
        ON CONFLICT (workspace_id, kind) DO UPDATE SET n = n + 1;
END;

INSERT INTO record_counts (workspace_id, kind, n)
    SELECT workspace_id, 'companies', count(*) FROM companies
    WHERE workspace_id IN (SELECT id FROM workspaces) GROUP BY workspace_id;
CREATE TRIGGER companies_counted AFTER INSERT ON companies BEGIN
    INSERT INTO record_counts (workspace_id, kind, n) VALUES (new.workspace_id, 'companies', 1)
        ON CONFLICT (workspace_id, kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER companies_uncounted AFTER DELETE ON companies BEGIN
    UPDATE record_counts SET n = n - 1 WHERE workspace_id = old.workspace_id AND kind = 'companies';
END;
CREATE TRIGGER companies_moved AFTER UPDATE OF workspace_id ON companies
WHEN new.workspace_id IS NOT old.workspace_id BEGIN
    UPDATE record_counts SET n = n - 1 WHERE workspace_id = old.workspace_id AND kind = 'companies';
    INSERT INTO record_counts (workspace_id, kind, n) VALUES (new.workspace_id, 'companies', 1)
        ON CONFLICT (workspace_id, kind) DO UPDATE SET n = n + 1;
END;

INSERT INTO record_counts (workspace_id, kind, n)
    SELECT workspace_id, 'deals', count(*) FROM deals
    WHERE workspace_id IN (SELECT id FROM workspaces) GROUP BY workspace_id;
CREATE TRIGGER deals_counted AFTER INSERT ON deals BEGIN
    INSERT INTO record_counts (workspace_id, kind, n) VALUES (new.workspace_id, 'deals', 1)
        ON CONFLICT (workspace_id, kind) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER deals_uncounted AFTER DELETE ON deals BEGIN
    UPDATE record_counts SET n = n - 1 WHERE workspace_id = old.workspace_id AND kind = 'deals';
END;
CREATE TRIGGER deals_moved AFTER UPDATE OF workspace_id ON deals
WHEN new.workspace_id IS NOT old.workspace_id BEGIN
    UPDATE record_counts SET n = n - 1 WHERE workspace_id = old.workspace_id AND kind = 'deals';
    INSERT INTO record_counts (workspace_id, kind, n) VALUES (new.workspace_id, 'deals', 1)
        ON CONFLICT (workspace_id, kind) DO UPDATE SET n = n + 1;
END;
