-- 0003_conversation_facts (PostgreSQL): as SQLite's 0006 — the facts the figures need of a
-- conversation's events, kept on its row by the append path (`BatchPlanner`), the agents each
-- conversation was assigned to, and the indexes behind every filter of the dashboard's
-- conversation list. Applied inside the migration runner's transaction; this file must not
-- BEGIN or COMMIT itself.

ALTER TABLE conversations ADD COLUMN first_assigned_at TEXT COLLATE "C";
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
           count(*) FILTER (WHERE kind = 'transfer') AS transfers
    FROM events GROUP BY conversation_id
) AS f
WHERE conversations.id = f.conversation_id;

CREATE TABLE conversation_agents (
    conversation_id    TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    agent_id           TEXT COLLATE "C" NOT NULL,
    created_at         TEXT COLLATE "C" NOT NULL,
    conversation_rowid BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE INDEX conversation_agents_agent
    ON conversation_agents (agent_id, created_at, conversation_rowid);

INSERT INTO conversation_agents (conversation_id, agent_id, created_at, conversation_rowid)
SELECT c.id, e.body::jsonb ->> 'agent_id', c.created_at, c.rowid
FROM events e JOIN conversations c ON c.id = e.conversation_id
WHERE e.kind = 'assigned' AND e.body::jsonb ->> 'agent_id' IS NOT NULL
ON CONFLICT DO NOTHING;

-- Each tag a conversation carries (its `tags` JSON list, kept in step by every write of it).
CREATE TABLE conversation_tags (
    conversation_id    TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    tag                TEXT COLLATE "C" NOT NULL,
    created_at         TEXT COLLATE "C" NOT NULL,
    conversation_rowid BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags (tag, created_at, conversation_rowid);

INSERT INTO conversation_tags (conversation_id, tag, created_at, conversation_rowid)
SELECT c.id, t.value #>> '{}', c.created_at, c.rowid
FROM conversations c, jsonb_array_elements(c.tags::jsonb) AS t (value)
WHERE jsonb_typeof(t.value) = 'string'
ON CONFLICT DO NOTHING;

-- The conversation list by topic and by status, newest first, ties by rowid: walked by the
-- index, never sorted.
CREATE INDEX conversations_topic ON conversations (topic, created_at, rowid);
DROP INDEX conversations_status;
CREATE INDEX conversations_status ON conversations (status, created_at, rowid);
