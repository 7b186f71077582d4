-- 0010_identities: a visitor may carry the host app's user id (docs/widget.md, "Verified
-- users"). `verified` is 1 once the id was proven with the site's secret (an HMAC of the id or
-- a signed token); a merely claimed id stays 0 and never joins histories. Applied inside the
-- migration runner's transaction; this file must not BEGIN or COMMIT itself.
ALTER TABLE visitors ADD COLUMN external_id TEXT;
ALTER TABLE visitors ADD COLUMN verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1));
-- A verified user's conversations on any device: every visitor of one site with that id.
CREATE INDEX visitors_identity ON visitors (site, external_id) WHERE verified = 1;
