-- A contact's phone written with separators ("+1 (415) 555-0100") is also indexed as its
-- digits ("14155550100"), so that search=4155550100 or +14155550100 finds it; search.document
-- appends them for every new write. This adds them to the rows already indexed, by the same
-- rule: digits, spaces and + ( ) . - / only, at least one separator, at least 5 digits.
UPDATE contacts_fts SET body = body || ' ' || (
    SELECT replace(replace(replace(replace(replace(replace(replace(
        c.phone, ' ', ''), '+', ''), '(', ''), ')', ''), '.', ''), '-', ''), '/', '')
    FROM contacts c WHERE c.seq = -contacts_fts.rowid
)
WHERE rowid IN (
    SELECT -seq FROM contacts
    WHERE phone NOT GLOB '*[^-0-9 +()./]*'
      AND phone GLOB '*[- ()./]*'
      AND length(replace(replace(replace(replace(replace(replace(replace(
          phone, ' ', ''), '+', ''), '(', ''), ')', ''), '.', ''), '-', ''), '/', '')) >= 5
);
