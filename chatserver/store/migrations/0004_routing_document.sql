-- 0004_routing_document: the routing topics and languages as edited on the admin pages.
-- Applied inside the migration runner's transaction; this file must not BEGIN or COMMIT itself.

-- At most one row. `document` is the JSON object {"languages": [...], "topics": {...}} that
-- routing.config.apply_document lays over the routing file's configuration; there is no row
-- until an admin first edits the topics, and until then the file alone is in force.
-- `version` goes up by one with every edit: each hub process compares it with the one it
-- routes with, and a writer only replaces the version it read (compare and set).
CREATE TABLE routing_document (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL CHECK (version >= 1),
    document   TEXT NOT NULL CHECK (json_valid(document)),
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
