-- 0006_conversation_facts: what the figures need of a conversation's events, kept on its row
-- by the append path in the same transaction as the event (chatserver/store/sqlite/_batch.py,
-- `BatchPlanner`), so a summary reads one row per conversation, not its events; and the
-- indexes behind every filter of the dashboard's conversation list. Applied inside the
-- migration runner's transaction; this file must not BEGIN or COMMIT itself.

-- first_assigned_at: the earliest `assigned` event's ts (NULL: never served);
-- first_response_at (already there, now the store's): the earliest agent `message` ts;
-- transfers: how many `transfer` events.
ALTER TABLE conversations ADD COLUMN first_assigned_at TEXT;
ALTER TABLE conversations ADD COLUMN transfers INTEGER NOT NULL DEFAULT 0 CHECK (transfers >= 0);

UPDATE conversations SET
    first_assigned_at = f.first_assigned_at,
    first_response_at = f.first_response_at,
    transfers = f.transfers
FROM (
    SELECT conversation_id,
           min(CASE WHEN kind = 'assigned' THEN ts END) AS first_assigned_at,
           min(CASE WHEN kind = 'message' AND actor_role = 'agent' THEN ts END)
               AS first_response_at,
           sum(kind = 'transfer') AS transfers
    FROM events GROUP BY conversation_id
) AS f
WHERE conversations.id = f.conversation_id;

-- Every agent an `assigned` event named, once per conversation: the "agent took part"
-- filter. The conversation's created_at and rowid come along so that one agent's
-- conversations are walked newest first by the index alone (the dashboard's order).
CREATE TABLE conversation_agents (
    conversation_id    TEXT NOT NULL REFERENCES conversations (id),
    agent_id           TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    conversation_rowid INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
) WITHOUT ROWID;
CREATE INDEX conversation_agents_agent
    ON conversation_agents (agent_id, created_at, conversation_rowid);

INSERT OR IGNORE INTO conversation_agents (conversation_id, agent_id, created_at, conversation_rowid)
SELECT c.id, json_extract(e.body, '$.agent_id'), c.created_at, c.rowid
FROM events e JOIN conversations c ON c.id = e.conversation_id
WHERE e.kind = 'assigned' AND json_extract(e.body, '$.agent_id') IS NOT NULL;

-- Each tag a conversation carries (its `tags` JSON list, kept in step by every write of
-- it): the tag filter, walked newest first by its index as the agents' are.
CREATE TABLE conversation_tags (
    conversation_id    TEXT NOT NULL REFERENCES conversations (id),
    tag                TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    conversation_rowid INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, tag)
) WITHOUT ROWID;
CREATE INDEX conversation_tags_tag ON conversation_tags (tag, created_at, conversation_rowid);

INSERT OR IGNORE INTO conversation_tags (conversation_id, tag, created_at, conversation_rowid)
SELECT c.id, t.value, c.created_at, c.rowid FROM conversations c, json_each(c.tags) t
WHERE t.type = 'text';

-- The conversation list by topic, newest first (by status: conversations_status; the rowid,
-- the tie-break, is the last column of every SQLite index).
CREATE INDEX conversations_topic ON conversations (topic, created_at);
