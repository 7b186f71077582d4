-- 0004_rollups (PostgreSQL): as SQLite's 0007 — the figures of past days and hours per
-- period × topic × agent, and the marks that say a period changed since (by triggers, so no
-- write path can forget them). Applied inside the migration runner's transaction; this file
-- must not BEGIN or COMMIT itself.

CREATE TABLE figure_rollups (
    kind   TEXT COLLATE "C" NOT NULL CHECK (kind IN ('day', 'hour')),
    topic  TEXT COLLATE "C" NOT NULL,
    period TEXT COLLATE "C" NOT NULL,
    agent  TEXT COLLATE "C" NOT NULL,
    cell   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, topic, period, agent)
);
CREATE INDEX figure_rollups_period ON figure_rollups (period);

CREATE TABLE rollup_built (
    period   TEXT COLLATE "C" PRIMARY KEY,
    built_at TEXT COLLATE "C" NOT NULL
);

-- One row per change, never updated: writers of several hubs never wait on each other for it.
CREATE TABLE rollup_marks (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hour TEXT COLLATE "C" NOT NULL
);
CREATE INDEX rollup_marks_hour ON rollup_marks (hour);

-- The current hour by the database's clock (the transaction's start: a transaction that began
-- in an hour counts as that hour's, which a build waits an hour past the hour's end for).
CREATE FUNCTION rollup_hour() RETURNS TEXT LANGUAGE sql STABLE
AS $$ SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') $$;

CREATE FUNCTION rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND substr(OLD.created_at, 1, 13) < rollup_hour() THEN
        INSERT INTO rollup_marks (hour) VALUES (substr(OLD.created_at, 1, 13));
        IF TG_OP = 'DELETE' THEN
            -- A deleted conversation takes the cells of its day and hour with it: they hold
            -- counts of what its visitor wrote.
            DELETE FROM figure_rollups
            WHERE period IN (substr(OLD.created_at, 1, 10), substr(OLD.created_at, 1, 13));
            DELETE FROM rollup_built
            WHERE period IN (substr(OLD.created_at, 1, 10), substr(OLD.created_at, 1, 13));
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' AND substr(NEW.created_at, 1, 13) < rollup_hour()
       AND (TG_OP = 'INSERT' OR NEW.created_at IS DISTINCT FROM OLD.created_at) THEN
        INSERT INTO rollup_marks (hour) VALUES (substr(NEW.created_at, 1, 13));
    END IF;
    RETURN NULL;
END
$$;

-- The WHEN clauses keep the current hour's writes (nearly all of them) from calling the function.
CREATE TRIGGER rollup_mark_insert AFTER INSERT ON conversations FOR EACH ROW
WHEN (substr(NEW.created_at, 1, 13) < rollup_hour())
EXECUTE FUNCTION rollup_mark();

CREATE TRIGGER rollup_mark_update AFTER UPDATE ON conversations FOR EACH ROW
WHEN (substr(OLD.created_at, 1, 13) < rollup_hour()
      OR substr(NEW.created_at, 1, 13) < rollup_hour())
EXECUTE FUNCTION rollup_mark();

CREATE TRIGGER rollup_mark_delete AFTER DELETE ON conversations FOR EACH ROW
WHEN (substr(OLD.created_at, 1, 13) < rollup_hour())
EXECUTE FUNCTION rollup_mark();

-- A visitor's name or e-mail changed: what they wrote redacts differently, so the term
-- counts of their past conversations' hours are marked too.
CREATE FUNCTION rollup_mark_visitor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_marks (hour)
    SELECT DISTINCT substr(created_at, 1, 13) FROM conversations
    WHERE visitor_id = NEW.id AND substr(created_at, 1, 13) < rollup_hour();
    RETURN NULL;
END
$$;

CREATE TRIGGER rollup_mark_visitor AFTER UPDATE OF name, email ON visitors FOR EACH ROW
WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email)
EXECUTE FUNCTION rollup_mark_visitor();
