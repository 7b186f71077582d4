-- 0003_canned: canned responses for the agent console. Applied inside the migration runner's
-- transaction; this file must not BEGIN or COMMIT itself.

-- A canned response belongs to one agent (`owner_id` = the agent's id) or is shared by every
-- agent (`owner_id` = '', managed by admins). The shortcut is what an agent types after "/".
CREATE TABLE canned_responses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id   TEXT NOT NULL DEFAULT '',
    shortcut   TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (owner_id, shortcut)
);
