-- GET /reminders pages on (follow_up_at, id): the follow-up indexes end with id, so each
-- type's due rows come out of its index already in that order and the three are merged,
-- instead of each being sorted in a temporary b-tree to break ties of follow_up_at.
-- They still serve follow_up_at= filters on record lists as before.
DROP INDEX contacts_follow_up;
CREATE INDEX contacts_follow_up ON contacts (workspace_id, follow_up_at, id) WHERE follow_up_at IS NOT NULL;
DROP INDEX companies_follow_up;
CREATE INDEX companies_follow_up ON companies (workspace_id, follow_up_at, id) WHERE follow_up_at IS NOT NULL;
DROP INDEX deals_follow_up;
CREATE INDEX deals_follow_up ON deals (workspace_id, follow_up_at, id) WHERE follow_up_at IS NOT NULL;

-- GET /audit?target=<handle> (one record's history) walked the whole workspace's log newest
-- first, testing each row, and counted its total the same way; this index finds that
-- record's rows alone, in the log's order (seq).
CREATE INDEX audit_by_target ON audit (workspace_id, target, seq) WHERE target IS NOT NULL;
