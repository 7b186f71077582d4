-- 0001_initial: agents, their bearer tokens, visitors, conversations, the event log and the
-- router's decisions. Applied inside one write transaction by the migration runner, which also
-- records the version in `schema_version`; this file must not BEGIN or COMMIT itself.

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    -- username.casefold(): uniqueness and look-ups ignore case, Unicode included.
    username_key  TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    skills        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(skills)),
    capacity      INTEGER NOT NULL CHECK (capacity >= 0),
    roles         TEXT NOT NULL DEFAULT '["agent"]' CHECK (json_valid(roles)),
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    TEXT NOT NULL
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE visitors (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    site         TEXT NOT NULL,
    name         TEXT,
    email        TEXT,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT
);

CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    visitor_id        TEXT NOT NULL REFERENCES visitors (id),
    site              TEXT NOT NULL,
    topic             TEXT NOT NULL,
    language          TEXT NOT NULL,
    status            TEXT NOT NULL
                      CHECK (status IN ('queued', 'offered', 'active', 'closed')),
    priority          INTEGER NOT NULL DEFAULT 0,
    agent_id          TEXT REFERENCES agents (id),
    last_agent_id     TEXT REFERENCES agents (id),
    created_at        TEXT NOT NULL,
    assigned_at       TEXT,
    first_response_at TEXT,
    closed_at         TEXT,
    closed_by         TEXT CHECK (closed_by IN ('visitor', 'agent', 'system')),
    page_url          TEXT,
    -- The seq of the newest stored event: the only source of seq, read and advanced inside
    -- the transaction that stores the events, so it is never reused.
    last_seq          INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    rating            INTEGER CHECK (rating BETWEEN 1 AND 5),
    rating_comment    TEXT,
    tags              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags))
);
CREATE INDEX conversations_visitor ON conversations (visitor_id, created_at);
CREATE INDEX conversations_agent ON conversations (agent_id, created_at);
CREATE INDEX conversations_status ON conversations (status, created_at);
CREATE INDEX conversations_created ON conversations (created_at);

-- A rowid table: rows append at the end in commit order, so a batch spread over many
-- conversations dirties few table pages; the primary key is a separate (narrow) index.
CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    ts              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    actor_role      TEXT NOT NULL CHECK (actor_role IN ('visitor', 'agent', 'system')),
    actor_id        TEXT,
    actor_name      TEXT,
    client_id       TEXT,
    body            TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX events_client_id ON events (conversation_id, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE decisions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    ts              TEXT NOT NULL,
    explanation     TEXT NOT NULL CHECK (json_valid(explanation))
);
CREATE INDEX decisions_conversation ON decisions (conversation_id, id);
