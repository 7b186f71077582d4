-- 0004_rollups (PostgreSQL): as SQLite's 0007 — the figures of whole past days per day ×
-- topic × agent, and the marks that say a day changed since (by triggers, so no write path
-- can forget them). Applied inside the migration runner's transaction; this file must not
-- BEGIN or COMMIT itself.

CREATE TABLE figure_rollups (
    day   TEXT COLLATE "C" NOT NULL,
    topic TEXT COLLATE "C" NOT NULL,
    agent TEXT COLLATE "C" NOT NULL,
    cell  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (day, topic, agent)
);

CREATE TABLE rollup_days (
    day      TEXT COLLATE "C" PRIMARY KEY,
    built_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE rollup_dirty (
    day     TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL
);

-- The day of a conversation's arrival, and today, by the database's clock (the transaction's
-- start: a transaction that began yesterday counts as yesterday's, which a rebuild waits an
-- hour past the day's end for).
CREATE FUNCTION rollup_today() RETURNS TEXT LANGUAGE sql STABLE
AS $$ SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') $$;

CREATE FUNCTION rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND substr(OLD.created_at, 1, 10) < rollup_today() THEN
        INSERT INTO rollup_dirty (day, version)
        VALUES (substr(OLD.created_at, 1, 10), (random() * 9e18)::bigint)
        ON CONFLICT (day) DO UPDATE SET version = excluded.version;
        IF TG_OP = 'DELETE' THEN
            -- A deleted conversation takes its day's cells with it: they hold counts of what
            -- its visitor wrote.
            DELETE FROM figure_rollups WHERE day = substr(OLD.created_at, 1, 10);
            DELETE FROM rollup_days WHERE day = substr(OLD.created_at, 1, 10);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' AND substr(NEW.created_at, 1, 10) < rollup_today()
       AND (TG_OP = 'INSERT' OR NEW.created_at IS DISTINCT FROM OLD.created_at) THEN
        INSERT INTO rollup_dirty (day, version)
        VALUES (substr(NEW.created_at, 1, 10), (random() * 9e18)::bigint)
        ON CONFLICT (day) DO UPDATE SET version = excluded.version;
    END IF;
    RETURN NULL;
END
$$;

-- The WHEN clauses keep today's writes (nearly all of them) from calling the function.
CREATE TRIGGER rollup_mark_insert AFTER INSERT ON conversations FOR EACH ROW
WHEN (substr(NEW.created_at, 1, 10) < rollup_today())
EXECUTE FUNCTION rollup_mark();

CREATE TRIGGER rollup_mark_update AFTER UPDATE ON conversations FOR EACH ROW
WHEN (substr(OLD.created_at, 1, 10) < rollup_today()
      OR substr(NEW.created_at, 1, 10) < rollup_today())
EXECUTE FUNCTION rollup_mark();

CREATE TRIGGER rollup_mark_delete AFTER DELETE ON conversations FOR EACH ROW
WHEN (substr(OLD.created_at, 1, 10) < rollup_today())
EXECUTE FUNCTION rollup_mark();

-- A visitor's name or e-mail changed: what they wrote redacts differently, so the term
-- counts of their past conversations' days are marked too.
CREATE FUNCTION rollup_mark_visitor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rollup_dirty (day, version)
    SELECT d.day, (random() * 9e18)::bigint
    FROM (SELECT DISTINCT substr(created_at, 1, 10) AS day FROM conversations
          WHERE visitor_id = NEW.id) AS d
    WHERE d.day < rollup_today()
    ON CONFLICT (day) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END
$$;

CREATE TRIGGER rollup_mark_visitor AFTER UPDATE OF name, email ON visitors FOR EACH ROW
WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email)
EXECUTE FUNCTION rollup_mark_visitor();
