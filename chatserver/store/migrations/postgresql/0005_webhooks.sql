-- 0005_webhooks: webhook endpoints and the outbox of their deliveries (chatserver/webhooks;
-- docs/webhooks.md). The same tables as SQLite's 0008_webhooks, with PostgreSQL's types.

CREATE TABLE webhook_endpoints (
    id          TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE webhook_kinds (
    kind TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
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

-- No foreign keys on the outbox: each would be a look-up per event on the write path; the
-- trigger webhook_forget and `delete_webhook` delete what they would have cascaded.
CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     TEXT COLLATE "C" NOT NULL,
    conversation_id TEXT COLLATE "C" NOT NULL,
    seq             BIGINT NOT NULL,
    type            TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    body            TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         DOUBLE PRECISION NOT NULL DEFAULT 0,
    lease_until     DOUBLE PRECISION NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    finished_at     TEXT COLLATE "C",
    redelivery_of   BIGINT
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

CREATE TABLE webhook_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    ts          TEXT COLLATE "C" NOT NULL,
    status_code INTEGER,
    latency_ms  DOUBLE PRECISION NOT NULL,
    error       TEXT,
    response    TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);

-- The outbox, by the database: one call per statement (the group-commit writer stores a batch
-- in one INSERT, a copy in one COPY), over the rows it inserted. Nothing is written while no
-- enabled endpoint takes the event's type. Rows are inserted in (conversation, seq) order, so a
-- conversation's deliveries to an endpoint have ids in seq order.
CREATE FUNCTION webhook_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (endpoint_id, conversation_id, seq, type, created_at)
    SELECT e.id, n.conversation_id, n.seq, k.type, n.ts
    FROM inserted AS n
    JOIN webhook_kinds AS k ON k.kind = n.kind
    JOIN webhook_endpoints AS e ON e.enabled = 1 AND e.events LIKE '%,' || k.type || ',%'
    WHERE k.type <> 'offline_message.created' OR (n.body::jsonb -> 'left_message') IS NOT NULL
    ORDER BY n.conversation_id, n.seq, e.id, k.ord;
    RETURN NULL;
END;
$$;

-- A conversation's deliveries go with it (a purge, a deletion request), in its transaction.
CREATE FUNCTION webhook_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_deliveries WHERE conversation_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_forget AFTER DELETE ON conversations FOR EACH ROW
EXECUTE FUNCTION webhook_forget();

CREATE TRIGGER webhook_outbox AFTER INSERT ON events REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox();
