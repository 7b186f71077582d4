-- 0009_api_keys: the keys integrations call the REST API v1 with (chatserver/store/api_keys.py).
-- Only the SHA-256 of a key is kept (secret_hash, unique: every request looks it up);
-- scopes is a JSON list of 'read', 'write', 'bot'. Applied inside the migration runner's
-- transaction; this file must not BEGIN or COMMIT itself.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    created_by   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_created ON api_keys (created_at, id);
