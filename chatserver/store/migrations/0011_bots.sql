-- 0011_bots: bots that answer a topic's conversations first (chatserver/store/bots.py,
-- docs/bots.md). A bot hears the conversation through a webhook endpoint and answers with a
-- `bot` API key; `topics` is ",billing,general," (each topic named by at most one bot, which
-- the admin use-case checks). A conversation keeps the bot that held it (`bot_id`) and when
-- the bot handed it over to the agents' queue (`handed_over_at`, NULL: the bot resolved it or
-- holds it still). Applied inside the migration runner's transaction; this file must not BEGIN
-- or COMMIT itself.
CREATE TABLE bots (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    endpoint_id      TEXT NOT NULL,
    key_id           TEXT NOT NULL,
    topics           TEXT NOT NULL,
    answer_timeout_s REAL NOT NULL CHECK (answer_timeout_s > 0),
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
ALTER TABLE conversations ADD COLUMN bot_id TEXT;
ALTER TABLE conversations ADD COLUMN handed_over_at TEXT;
-- A bot's conversations, newest first (its page's figures; recovery finds the ones it holds).
CREATE INDEX conversations_bot ON conversations (bot_id, created_at) WHERE bot_id IS NOT NULL;
