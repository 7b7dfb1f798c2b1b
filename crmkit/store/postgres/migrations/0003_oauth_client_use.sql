-- As SQLite's 0015: no overall cap on dynamic registration; a client never used (no
-- authorization code issued to it) within 24 hours of registering is deleted, a batch at a
-- time, by later registrations. used_at is when a code was first issued to it.
ALTER TABLE oauth_clients ADD COLUMN used_at bigint;

-- Clients that already reached a code or a grant count as used (their registration time
-- stands in for when).
UPDATE oauth_clients SET used_at = created_at
WHERE EXISTS (SELECT 1 FROM oauth_codes c WHERE c.client_id = oauth_clients.id)
   OR EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id);

-- The purge walks the unused clients oldest first.
CREATE INDEX oauth_clients_unused ON oauth_clients (created_at) WHERE used_at IS NULL;
-- Deleting a client looks up its codes and grants (ON DELETE CASCADE, and the purge's own
-- check that it has none).
CREATE INDEX oauth_codes_by_client ON oauth_codes (client_id);
CREATE INDEX oauth_grants_by_client ON oauth_grants (client_id);
