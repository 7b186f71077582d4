-- 0002_analytics: the audit log, the keys of the analyst exports, and the record of event
-- deletions that keeps incremental export cursors exact. Applied inside the migration runner's
-- transaction; this file must not BEGIN or COMMIT itself.

-- Who did what that an auditor must be able to see later: exports without redaction, purges,
-- deletion requests. Append-only; `actor` is "cli" for the local operator or the agent's
-- username, `actor_id` the agent's id when there is one.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    ts       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    actor_id TEXT,
    action   TEXT NOT NULL,
    details  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- Secrets made once per database: `pseudonym` keys the stable visitor pseudonyms of redacted
-- exports, `seal` keys the HMAC that seals each exported conversation's digest.
CREATE TABLE analytics_keys (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO analytics_keys (name, value) VALUES ('pseudonym', lower(hex(randomblob(32))));
INSERT INTO analytics_keys (name, value) VALUES ('seal', lower(hex(randomblob(32))));

-- Events are a rowid table and an export cursor is an events rowid: deleting the newest rows
-- lets SQLite hand their rowids out again. Each purge or forget-visitor notes the largest rowid
-- left afterwards, so a cursor issued before it is lowered to that and misses nothing.
CREATE TABLE event_deletions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    ts              TEXT NOT NULL,
    max_rowid_after INTEGER NOT NULL
);
