-- 0007_rollups: the figures of whole past days, added up per day × topic × agent
-- (chatserver/analytics/rollups.py builds them; docs/analytics.md, "Rollups"), and the marks
-- that say a day changed since. Applied inside the migration runner's transaction; this file
-- must not BEGIN or COMMIT itself.

-- One row per cell: the day (UTC date of arrival), the topic ('' = every topic) and the agent
-- who last held the served conversations ('' = every conversation, served or not). `cell` is
-- the analytics layer's JSON (counts, sums, histograms, tags); the store does not read it.
CREATE TABLE figure_rollups (
    day   TEXT NOT NULL,
    topic TEXT NOT NULL,
    agent TEXT NOT NULL,
    cell  TEXT NOT NULL,
    PRIMARY KEY (day, topic, agent)
) WITHOUT ROWID;

-- The days whose cells were built, and when.
CREATE TABLE rollup_days (
    day      TEXT PRIMARY KEY,
    built_at TEXT NOT NULL
) WITHOUT ROWID;

-- A day changed after it was over: a conversation that arrived on it was stored, changed or
-- deleted on a later day (by the database's clock). `version` is new at each change, so a
-- rebuild clears the mark only if nothing changed since the snapshot it read.
CREATE TABLE rollup_dirty (
    day     TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;

-- The marks, by the database (so no write path can forget them). A conversation of today
-- needs none: a day is built only once it has been over for an hour.
CREATE TRIGGER rollup_mark_insert AFTER INSERT ON conversations
WHEN substr(NEW.created_at, 1, 10) < date('now')
BEGIN
    INSERT INTO rollup_dirty (day, version) VALUES (substr(NEW.created_at, 1, 10), random())
    ON CONFLICT (day) DO UPDATE SET version = excluded.version;
END;

CREATE TRIGGER rollup_mark_update AFTER UPDATE ON conversations
WHEN substr(NEW.created_at, 1, 10) < date('now') OR substr(OLD.created_at, 1, 10) < date('now')
BEGIN
    INSERT INTO rollup_dirty (day, version) VALUES (substr(OLD.created_at, 1, 10), random())
    ON CONFLICT (day) DO UPDATE SET version = excluded.version;
    INSERT INTO rollup_dirty (day, version) VALUES (substr(NEW.created_at, 1, 10), random())
    ON CONFLICT (day) DO UPDATE SET version = excluded.version;
END;

-- A deleted conversation (a purge, a deletion request) takes its day's cells with it in the
-- same transaction: they hold counts of what its visitor wrote.
CREATE TRIGGER rollup_mark_delete AFTER DELETE ON conversations
WHEN substr(OLD.created_at, 1, 10) < date('now')
BEGIN
    INSERT INTO rollup_dirty (day, version) VALUES (substr(OLD.created_at, 1, 10), random())
    ON CONFLICT (day) DO UPDATE SET version = excluded.version;
    DELETE FROM figure_rollups WHERE day = substr(OLD.created_at, 1, 10);
    DELETE FROM rollup_days WHERE day = substr(OLD.created_at, 1, 10);
END;

-- A visitor's name or e-mail changed: what they wrote redacts differently, so the term
-- counts of their past conversations' days are marked too.
CREATE TRIGGER rollup_mark_visitor AFTER UPDATE OF name, email ON visitors
WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email
BEGIN
    INSERT INTO rollup_dirty (day, version)
    SELECT substr(created_at, 1, 10) AS day, random() FROM conversations
    WHERE visitor_id = NEW.id AND substr(created_at, 1, 10) < date('now')
    GROUP BY day
    ON CONFLICT (day) DO UPDATE SET version = excluded.version;
END;
