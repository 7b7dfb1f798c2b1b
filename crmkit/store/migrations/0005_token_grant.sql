-- A token an OAuth connector received names its grant, so it can be held to the one workspace
-- the user approved (it may not mint other tokens or reach other workspaces).
ALTER TABLE tokens ADD COLUMN grant_id TEXT;
