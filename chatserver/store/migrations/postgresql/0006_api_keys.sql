-- 0006_api_keys (PostgreSQL): as SQLite's 0009 — the keys integrations call the REST API v1
-- with (chatserver/store/api_keys.py). Only the SHA-256 of a key is kept (secret_hash, unique:
-- every request looks it up); scopes is a JSON list of 'read', 'write', 'bot'. Applied inside
-- the migration runner's transaction; this file must not BEGIN or COMMIT itself.
CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    scopes       TEXT COLLATE "C" NOT NULL,
    secret_hash  TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at   TEXT COLLATE "C" NOT NULL,
    created_by   TEXT COLLATE "C",
    last_used_at TEXT COLLATE "C",
    revoked_at   TEXT COLLATE "C"
);
CREATE INDEX api_keys_created ON api_keys (created_at, id);
