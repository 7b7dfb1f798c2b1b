-- A token an OAuth connector received names its grant, so it can be held to the one workspace
-- the user approved (it may not mint other tokens or reach other workspaces).
ALTER TABLE tokens ADD COLUMN grant_id TEXT;
-- Tokens connectors already hold get their grant too, so the scope applies to them at once.
UPDATE tokens SET grant_id = (SELECT g.id FROM oauth_grants g WHERE g.token_id = tokens.id)
WHERE grant_id IS NULL;
