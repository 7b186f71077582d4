"""`copy_from_sqlite`: a SQLite store's rows copied into a PostgreSQL store, with ``COPY``.

For moving a hub's history from its SQLite file to PostgreSQL, and for the cross-check of the
two read models (the same data in both must give the same exports, byte for byte): every
table the SQLite schema has, in the order foreign keys need, each one's rows in SQLite's
``rowid`` order — so the conversations' insertion order, the scans' tie-break, is the same —
and the analytics keys replaced by SQLite's, so pseudonyms and seals are the same too.

The target must be a migrated, empty store (open it once); the copy is one transaction, so it
is all there or not at all. Identity columns (``rowid``) are numbered afresh, in order; the
``id`` of the audit log, the decisions and the rest is kept; ``conversation_agents`` and
``conversation_tags``, which hold each conversation's rowid, are built again from the copied
events and conversations.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from ..base import UnavailableError
from ._errors import redacted

__all__ = ["TABLES", "copy_from_sqlite"]

#: The tables copied, parents before children.
TABLES = (
    "agents",
    "tokens",
    "visitors",
    "conversations",
    "events",
    "decisions",
    "audit_log",
    "event_deletions",
    "canned_responses",
    "routing_document",
)
_BATCH = 5000

#: ``conversation_agents`` from the copied rows (as migration 0003 fills it).
_AGENTS = (
    "INSERT INTO conversation_agents (conversation_id, agent_id, created_at, conversation_rowid)"
    " SELECT c.id, e.body::jsonb ->> 'agent_id', c.created_at, c.rowid"
    " FROM events e JOIN conversations c ON c.id = e.conversation_id"
    " WHERE e.kind = 'assigned' AND e.body::jsonb ->> 'agent_id' IS NOT NULL"
    " ON CONFLICT DO NOTHING"
)
#: ``conversation_tags`` from the copied rows (as migration 0003 fills it).
_TAGS = (
    "INSERT INTO conversation_tags (conversation_id, tag, created_at, conversation_rowid)"
    " SELECT c.id, t.value #>> '{}', c.created_at, c.rowid"
    " FROM conversations c, jsonb_array_elements(c.tags::jsonb) AS t (value)"
    " WHERE jsonb_typeof(t.value) = 'string' ON CONFLICT DO NOTHING"
)


def copy_from_sqlite(path: str | Path, url: str) -> dict[str, int]:
    """Copy every row of the SQLite store at ``path`` into the PostgreSQL store at ``url``;
    returns the rows copied per table."""
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    copied: dict[str, int] = {}
    try:
        with psycopg.connect(url) as target:
            for table in TABLES:
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                if not columns:
                    continue
                names = ", ".join(columns)
                rows = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
                count = 0
                with target.cursor() as cur:
                    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                        while batch := rows.fetchmany(_BATCH):
                            for row in batch:
                                copy.write_row(row)
                            count += len(batch)
                    copied[table] = count
            target.execute(_AGENTS)
            target.execute(_TAGS)
            target.execute("DELETE FROM analytics_keys")
            with target.cursor() as cur:
                cur.executemany(
                    "INSERT INTO analytics_keys (name, value) VALUES (%s, %s)",
                    source.execute("SELECT name, value FROM analytics_keys").fetchall(),
                )
            for table in ("decisions", "audit_log", "event_deletions", "canned_responses"):
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
            target.commit()
            target.execute("ANALYZE")  # the planner's statistics, before the first scan
    except psycopg.Error as exc:
        raise UnavailableError(f"copying {path} into {redacted(url)}: {exc}") from exc
    finally:
        source.close()
    return copied
