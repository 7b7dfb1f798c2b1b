-- Looking a contact up by phone number (`phone=+15550100`, e.g. for an incoming call) had no
-- index and read the whole workspace: ~150 ms at 100k contacts. created_at, id after the
-- phone serve the default sort too, so the index is used even before statistics exist.
CREATE INDEX contacts_phone ON contacts (workspace_id, phone, created_at, id) WHERE phone IS NOT NULL;
