-- 0001_initial (PostgreSQL): the whole schema as the SQLite migrations 0001-0005 leave it —
-- agents and tokens, visitors, conversations, the event log, routing decisions, the audit log,
-- the analytics keys, event deletions, canned responses and the routing document. Applied by
-- chatserver/store/postgres/_migrate.py inside one transaction holding an advisory lock, which
-- also records the version in `schema_version`; this file must not BEGIN or COMMIT itself.
--
-- Same columns and the same text as SQLite: timestamps are ISO 8601 UTC text, JSON values are
-- text (chatserver/store/sqlite/_codec.py writes and reads both stores), booleans 0/1. Every
-- text column is COLLATE "C" so that ORDER BY and comparisons are byte order, as in SQLite,
-- whatever the locale the cluster was created with.

CREATE TABLE agents (
    id            TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL,
    -- username.casefold(): uniqueness and look-ups ignore case, Unicode included.
    username_key  TEXT COLLATE "C" NOT NULL UNIQUE,
    display_name  TEXT COLLATE "C" NOT NULL,
    password_hash TEXT COLLATE "C" NOT NULL,
    skills        TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    capacity      INTEGER NOT NULL CHECK (capacity >= 0),
    roles         TEXT COLLATE "C" NOT NULL DEFAULT '["agent"]',
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT COLLATE "C" NOT NULL
);

CREATE TABLE tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    agent_id   TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C",
    revoked_at TEXT COLLATE "C"
);
CREATE INDEX tokens_agent ON tokens (agent_id);
CREATE INDEX tokens_revoked ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE visitors (
    id           TEXT COLLATE "C" PRIMARY KEY,
    token_hash   TEXT COLLATE "C" NOT NULL UNIQUE,
    site         TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C",
    email        TEXT COLLATE "C",
    created_at   TEXT COLLATE "C" NOT NULL,
    last_seen_at TEXT COLLATE "C"
);

CREATE TABLE conversations (
    id                TEXT COLLATE "C" PRIMARY KEY,
    -- Insertion order (SQLite's rowid): the dashboard's tie-break, newest stored first.
    rowid             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    visitor_id        TEXT COLLATE "C" NOT NULL REFERENCES visitors (id),
    site              TEXT COLLATE "C" NOT NULL,
    topic             TEXT COLLATE "C" NOT NULL,
    language          TEXT COLLATE "C" NOT NULL,
    status            TEXT COLLATE "C" NOT NULL
                      CHECK (status IN ('queued', 'offered', 'active', 'closed')),
    priority          INTEGER NOT NULL DEFAULT 0,
    agent_id          TEXT COLLATE "C" REFERENCES agents (id),
    last_agent_id     TEXT COLLATE "C" REFERENCES agents (id),
    created_at        TEXT COLLATE "C" NOT NULL,
    assigned_at       TEXT COLLATE "C",
    first_response_at TEXT COLLATE "C",
    closed_at         TEXT COLLATE "C",
    closed_by         TEXT COLLATE "C" CHECK (closed_by IN ('visitor', 'agent', 'system')),
    page_url          TEXT COLLATE "C",
    -- The seq of the newest stored event: the only source of seq. The transaction that stores
    -- events locks the row (SELECT … FOR UPDATE), reads it and advances it, so two processes
    -- appending to one conversation take turns and a seq is never reused.
    last_seq          INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    rating            INTEGER CHECK (rating BETWEEN 1 AND 5),
    rating_comment    TEXT COLLATE "C",
    tags              TEXT COLLATE "C" NOT NULL DEFAULT '[]'
);
CREATE INDEX conversations_visitor ON conversations (visitor_id, created_at);
CREATE INDEX conversations_agent ON conversations (agent_id, created_at);
CREATE INDEX conversations_status ON conversations (status, created_at);
CREATE INDEX conversations_created ON conversations (created_at);

CREATE TABLE events (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    -- Insertion order, for the incremental exports to come (SQLite's rowid).
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY,
    ts              TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    actor_role      TEXT COLLATE "C" NOT NULL
                    CHECK (actor_role IN ('visitor', 'agent', 'system')),
    actor_id        TEXT COLLATE "C",
    actor_name      TEXT COLLATE "C",
    client_id       TEXT COLLATE "C",
    body            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX events_client_id ON events (conversation_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX events_rowid ON events (rowid);

CREATE TABLE decisions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    ts              TEXT COLLATE "C" NOT NULL,
    explanation     TEXT COLLATE "C" NOT NULL
);
CREATE INDEX decisions_conversation ON decisions (conversation_id, id);

-- The audit log: who did what that an auditor must be able to see later (exports without
-- redaction, purges, deletion requests). `actor` is "cli" or the agent's username.
CREATE TABLE audit_log (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts       TEXT COLLATE "C" NOT NULL,
    actor    TEXT COLLATE "C" NOT NULL,
    actor_id TEXT COLLATE "C",
    action   TEXT COLLATE "C" NOT NULL,
    details  TEXT COLLATE "C" NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- Secrets made once per database (`pseudonym`, `seal`), 32 bytes as hex: SHA-256 of two
-- gen_random_uuid() (the server's strong random source; no extension needed).
CREATE TABLE analytics_keys (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);
INSERT INTO analytics_keys (name, value) VALUES
    ('pseudonym', encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex')),
    ('seal', encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));

-- Each purge or forget-visitor notes the largest events rowid left afterwards (as on SQLite).
CREATE TABLE event_deletions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts              TEXT COLLATE "C" NOT NULL,
    max_rowid_after BIGINT NOT NULL
);

-- Canned responses: `owner_id` is the agent's id, or '' for one shared by every agent.
CREATE TABLE canned_responses (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
    shortcut   TEXT COLLATE "C" NOT NULL,
    text       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    UNIQUE (owner_id, shortcut)
);

-- The routing document as edited on the admin pages: at most one row, compare-and-set on
-- `version`.
CREATE TABLE routing_document (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL CHECK (version >= 1),
    document   TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    updated_by TEXT COLLATE "C"
);
