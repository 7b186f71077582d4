-- 0008_webhooks: webhook endpoints and the outbox of their deliveries (chatserver/webhooks;
-- docs/webhooks.md). Applied inside the migration runner's transaction; this file must not
-- BEGIN or COMMIT itself.

-- An endpoint: where to send, the secret that signs each request, and the event types it
-- takes, kept as ",type,type," so the outbox trigger matches a type with one LIKE.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Which stored event kinds make which webhook types, in the order they are sent (a `start`
-- is created, then queued).
CREATE TABLE webhook_kinds (
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    ord  INTEGER NOT NULL,
    PRIMARY KEY (kind, type)
);
INSERT INTO webhook_kinds (kind, type, ord) VALUES
    ('start', 'conversation.created', 1),
    ('start', 'conversation.queued', 2),
    ('requeued', 'conversation.queued', 1),
    ('handoff', 'conversation.queued', 1),
    ('assigned', 'conversation.assigned', 1),
    ('message', 'message.created', 1),
    ('message', 'offline_message.created', 2),
    ('transfer', 'conversation.transferred', 1),
    ('closed', 'conversation.closed', 1),
    ('rating', 'conversation.rated', 1);

-- The outbox: one row per (endpoint, event, type), written by the trigger below in the
-- transaction that stores the event — an event is committed with its deliveries or not at all.
-- No foreign keys: each would be a look-up per event on the write path; the triggers below and
-- `delete_webhook` delete what they would have cascaded.
-- `body` is built at the first attempt and sent as it is by every retry; `next_at` and
-- `lease_until` are epoch seconds (a delivery being sent is leased to one process).
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    body            TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         REAL NOT NULL DEFAULT 0,
    lease_until     REAL NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    finished_at     TEXT,
    redelivery_of   INTEGER
);
-- What is due (pending rows only); a conversation's rows per endpoint, for the chain check
-- (the oldest pending one of an endpoint and conversation is sent first) and for deleting them
-- with it; an endpoint's log; what finished when (for pruning the log; a row enters it only
-- when it finishes). Four b-trees per new row, the primary key included: each is paid on the
-- write path (bench/webhooks.py).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (conversation_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;

-- Every attempt: when, the answer's status (NULL: none came), how long it took, the error,
-- and the first bytes of the answer.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    ts          TEXT NOT NULL,
    status_code INTEGER,
    latency_ms  REAL NOT NULL,
    error       TEXT,
    response    TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

-- A conversation's deliveries go with it (a purge, a deletion request), in its transaction.
CREATE TRIGGER webhook_forget AFTER DELETE ON conversations
BEGIN
    DELETE FROM webhook_deliveries WHERE conversation_id = OLD.id;
END;

-- The outbox, by the database: no write path can forget it. Nothing is written while no
-- enabled endpoint takes the event's type; `offline_message.created` only for a left message.
CREATE TRIGGER webhook_outbox AFTER INSERT ON events
WHEN NEW.kind IN ('start', 'requeued', 'handoff', 'assigned', 'message', 'transfer', 'closed',
                  'rating')
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, conversation_id, seq, type, created_at)
    SELECT e.id, NEW.conversation_id, NEW.seq, k.type, NEW.ts
    FROM webhook_kinds AS k
    JOIN webhook_endpoints AS e ON e.enabled = 1 AND e.events LIKE '%,' || k.type || ',%'
    WHERE k.kind = NEW.kind
      AND (k.type <> 'offline_message.created'
           OR json_extract(NEW.body, '$.left_message') IS NOT NULL)
    ORDER BY e.id, k.ord;
END;
