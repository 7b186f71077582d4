-- 0002_read_model (PostgreSQL): what analytics' read model (chatserver/store/postgres/
-- snapshot.py) needs beyond the SQLite schema. Applied inside the migration runner's
-- transaction; this file must not BEGIN or COMMIT itself.

-- The transaction that wrote each event. Identity values are handed out when a row is
-- inserted, not when it commits: with concurrent writers an event may commit after one with a
-- higher rowid, so "rowid > mark" could miss it. An incremental export's cursor is instead the
-- oldest transaction still running when its snapshot was taken (pg_snapshot_xmin): every
-- event the snapshot could not see was written by a transaction at or above it. Rows already
-- there get this migration's own transaction id (their conversations are exported once more
-- by the next incremental export).
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_xid ON events (xid);

-- The scans' order, oldest first, ties in the order stored (SQLite's created_at, rowid):
-- walked by the index, never sorted.
CREATE INDEX conversations_created_rowid ON conversations (created_at, rowid);
DROP INDEX conversations_created;
