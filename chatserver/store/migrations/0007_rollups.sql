-- 0007_rollups: the figures of past days and hours, added up per period × topic × agent
-- (chatserver/analytics/rollups.py builds them; docs/analytics.md, "Rollups"), and the marks
-- that say a period changed since. Applied inside the migration runner's transaction; this
-- file must not BEGIN or COMMIT itself.

-- One row per cell: the period (a UTC day of arrival, 2026-05-01, or an hour, 2026-05-01T14),
-- the topic ('' = every topic) and the agent who last held the served conversations ('' =
-- every conversation, served or not). `cell` is the analytics layer's JSON (counts, sums,
-- histograms, tags, term counts); the store does not read it.
-- Keyed by kind and topic first: a summary reads one kind of one topic ('' for all) over a
-- range of periods; builds and deletions find a period's cells by the second index.
CREATE TABLE figure_rollups (
    kind   TEXT NOT NULL CHECK (kind IN ('day', 'hour')),
    topic  TEXT NOT NULL,
    period TEXT NOT NULL,
    agent  TEXT NOT NULL,
    cell   TEXT NOT NULL,
    PRIMARY KEY (kind, topic, period, agent)
) WITHOUT ROWID;
CREATE INDEX figure_rollups_period ON figure_rollups (period);

-- The periods whose cells were built (a day with every hour of it), and when.
CREATE TABLE rollup_built (
    period   TEXT PRIMARY KEY,
    built_at TEXT NOT NULL
) WITHOUT ROWID;

-- An hour changed after it was over: a conversation that arrived in it was stored, changed or
-- deleted in a later hour (by the database's clock). One row per change, never updated, so
-- writers never wait on each other for it; a build deletes the marks its snapshot saw.
CREATE TABLE rollup_marks (
    id   INTEGER PRIMARY KEY,
    hour TEXT NOT NULL
);
CREATE INDEX rollup_marks_hour ON rollup_marks (hour);

-- The marks, by the database (so no write path can forget them). A conversation of the
-- current hour needs none: an hour is built only once it has been over for an hour.
CREATE TRIGGER rollup_mark_insert AFTER INSERT ON conversations
WHEN substr(NEW.created_at, 1, 13) < strftime('%Y-%m-%dT%H', 'now')
BEGIN
    INSERT INTO rollup_marks (hour) VALUES (substr(NEW.created_at, 1, 13));
END;

CREATE TRIGGER rollup_mark_update AFTER UPDATE ON conversations
WHEN substr(OLD.created_at, 1, 13) < strftime('%Y-%m-%dT%H', 'now')
  OR substr(NEW.created_at, 1, 13) < strftime('%Y-%m-%dT%H', 'now')
BEGIN
    INSERT INTO rollup_marks (hour)
    SELECT substr(OLD.created_at, 1, 13)
    UNION SELECT substr(NEW.created_at, 1, 13);
END;

-- A deleted conversation (a purge, a deletion request) takes the cells of its day and hour
-- with it in the same transaction: they hold counts of what its visitor wrote.
CREATE TRIGGER rollup_mark_delete AFTER DELETE ON conversations
WHEN substr(OLD.created_at, 1, 13) < strftime('%Y-%m-%dT%H', 'now')
BEGIN
    INSERT INTO rollup_marks (hour) VALUES (substr(OLD.created_at, 1, 13));
    DELETE FROM figure_rollups
    WHERE period IN (substr(OLD.created_at, 1, 10), substr(OLD.created_at, 1, 13));
    DELETE FROM rollup_built
    WHERE period IN (substr(OLD.created_at, 1, 10), substr(OLD.created_at, 1, 13));
END;

-- A visitor's name or e-mail changed: what they wrote redacts differently, so the term
-- counts of their past conversations' hours are marked too.
CREATE TRIGGER rollup_mark_visitor AFTER UPDATE OF name, email ON visitors
WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email
BEGIN
    INSERT INTO rollup_marks (hour)
    SELECT DISTINCT substr(created_at, 1, 13) FROM conversations
    WHERE visitor_id = NEW.id AND substr(created_at, 1, 13) < strftime('%Y-%m-%dT%H', 'now');
END;
