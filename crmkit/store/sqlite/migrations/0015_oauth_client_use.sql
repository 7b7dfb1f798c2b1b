-- Dynamic registration has no overall hourly cap any more (registrations from 51 addresses
-- filled it and locked every connector out for an hour). What bounds the table instead: a
-- client never used within 24 hours of registering is deleted, a batch at a time, by later
-- registrations. "Used" means an authorization code was issued to it (a person signed in and
-- approved); used_at is when that first happened, and it is never cleared.
ALTER TABLE oauth_clients ADD COLUMN used_at INTEGER;

-- Clients that already reached a code or a grant count as used (when is not known: their
-- registration time stands in).
UPDATE oauth_clients SET used_at = created_at
WHERE EXISTS (SELECT 1 FROM oauth_codes c WHERE c.client_id = oauth_clients.id)
   OR EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id);

-- The purge walks the unused clients oldest first.
CREATE INDEX oauth_clients_unused ON oauth_clients (created_at) WHERE used_at IS NULL;
-- Deleting a client looks up its codes and grants (ON DELETE CASCADE, and the purge's own
-- check that it has none): without these, each deleted client scanned both tables.
CREATE INDEX oauth_codes_by_client ON oauth_codes (client_id);
CREATE INDEX oauth_grants_by_client ON oauth_grants (client_id);
