"""`SQLiteSnapshot`: the `ReadSnapshot` of a SQLite store.

It opens its own connection to the store's file (``query_only``) and holds one read
transaction for its whole life: WAL readers never block the writer (the WAL only waits to be
checkpointed until the snapshot closes). Plans are forced so that SQLite never sorts:
``CROSS JOIN`` takes conversations by the created_at index, then each one's events by the
primary key, and two cursors in the same order are walked side by side (``_scan.py``).

The cursor is the newest events rowid and the number of event deletions: SQLite hands the
rowids of deleted newest rows out again, so a later snapshot lowers an old cursor to the
largest rowid a purge or forget-visitor left (``event_deletions``) and misses nothing. One
writer at a time means rowids are handed out in commit order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from .._scan import texts_of
from .._snapshot_base import SnapshotBase
from ..base import UnavailableError
from ..snapshots import (
    BadSelection,
    Cursor,
    Filters,
    MessageEvent,
    RatedText,
)

__all__ = ["SQLiteSnapshot"]

_CONVERSATION_COLUMNS = (
    "c.id, c.visitor_id, c.site, c.topic, c.language, c.status, c.created_at, c.closed_at,"
    " c.closed_by, c.page_url, c.rating, c.rating_comment, c.tags, c.last_seq, c.last_agent_id,"
    " v.name, v.email, c.bot_id, c.handed_over_at"
)
_EVENT_COLUMNS = (
    "e.conversation_id, e.seq, e.ts, e.kind, e.actor_role, e.actor_id, e.actor_name,"
    " e.client_id, e.body"
)


class SQLiteSnapshot(SnapshotBase):
    """A consistent, read-only view of the SQLite store at ``path``."""

    _cutoff_sql = "SELECT strftime('%Y-%m-%dT%H', 'now', '-1 hour')"

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise UnavailableError(f"no transcript store at {self.path}")
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA cache_size = -16000")
            conn.execute("BEGIN")
            # The first read starts the snapshot: everything below sees this state.
            mark = conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0]
            deletions = conn.execute("SELECT coalesce(max(id), 0) FROM event_deletions").fetchone()[
                0
            ]
        except sqlite3.OperationalError as exc:
            conn.close()
            if "no such table" in str(exc):
                raise UnavailableError(
                    f"{self.path}: the schema predates analytics; open it once with this"
                    " version of the hub (any chatserver command) to migrate it"
                ) from None
            raise
        self._conn: sqlite3.Connection | None = conn
        self._cursor = Cursor("sqlite", int(mark), int(deletions))
        self._name = str(self.path)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                pass
            conn.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("this snapshot is closed")
        return self._conn

    def _lookup(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.conn.execute(sql, params).fetchone()
        return row

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        return self.conn.execute(sql, params).fetchall()

    def _scan(self, sql: str, params: list[Any]) -> Iterator[Sequence[Any]]:
        return self.conn.execute(sql, params)

    def lowest_rowid_after(self, cursor: Cursor) -> int:
        """The rowid above which events are new since ``cursor``: its own, lowered to what a
        later purge or forget-visitor left as the largest (SQLite hands those out again)."""
        if cursor.store != "sqlite":
            raise BadSelection(
                f"cursor {cursor} was printed by an export from a {cursor.store} store; this"
                " store is SQLite: export once without --after to start again here"
            )
        row = self.conn.execute(
            "SELECT min(max_rowid_after) FROM event_deletions WHERE id > ?", (cursor.deletions,)
        ).fetchone()
        floor = row[0] if row is not None else None
        return cursor.mark if floor is None else min(cursor.mark, int(floor))

    # --- filtered scans ---------------------------------------------------------------------

    def where(self, filters: Filters) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.since is not None:
            clauses.append("c.created_at >= ?")
            params.append(filters.since)
        if filters.until is not None:
            clauses.append("c.created_at < ?")
            params.append(filters.until)
        if filters.topic is not None:
            clauses.append("c.topic = ?")
            params.append(filters.topic)
        if filters.tag is not None:
            # As for the agent below: a list from the tag's index entries (conversation_tags,
            # kept in step with the tags column), not each row's JSON.
            clauses.append(
                "+c.rowid IN (SELECT conversation_rowid FROM conversation_tags WHERE tag = ?)"
            )
            params.append(filters.tag)
        if filters.ratings is not None:
            clauses.append("c.rating IN (SELECT value FROM json_each(?))")
            params.append(orjson.dumps(sorted(filters.ratings)).decode())
        if filters.agent is not None:
            # "+c.rowid": a list built once from the agent's index entries, looked up as the
            # scan walks the created_at index (driving from it would sort).
            clauses.append(
                "+c.rowid IN (SELECT conversation_rowid FROM conversation_agents"
                " WHERE agent_id = ?)"
            )
            params.append(self.resolve_agent(filters.agent))
        if filters.after is not None:
            # "+c.id": not an index to drive the scan from (that would sort); the ids of the
            # changed conversations are looked up in a small list built from a rowid range.
            clauses.append("+c.id IN (SELECT conversation_id FROM events WHERE rowid > ?)")
            params.append(self.lowest_rowid_after(filters.after))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def queries(self, filters: Filters) -> dict[str, tuple[str, list[Any]]]:
        """The scans' SQL and parameters, by name (a test checks none of them sorts)."""
        where, params = self.where(filters)
        order = " ORDER BY c.created_at, c.rowid"
        visitors = " LEFT JOIN visitors v ON v.id = c.visitor_id"
        rated = "c.rating IN (SELECT value FROM json_each(?))"
        return {
            "conversations": (
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c{visitors}{where}{order}",
                params,
            ),
            "events": (
                f"SELECT {_EVENT_COLUMNS} FROM conversations c"
                f" CROSS JOIN events e ON e.conversation_id = c.id{where}{order}, e.seq",
                params,
            ),
            "message_conversations": (
                "SELECT c.id, c.visitor_id, c.topic, c.language, v.name, v.email"
                f" FROM conversations c{visitors}{where}{order}",
                params,
            ),
            # The start events come along (with no role, which every other event has): the
            # scan reads their rows anyway, where a subquery per conversation would look
            # each one up again.
            "messages": (
                "SELECT e.conversation_id, e.seq, e.ts,"
                " CASE WHEN e.kind = 'start' THEN NULL ELSE e.actor_role END,"
                " coalesce(e.actor_name, ''), e.body"
                " FROM conversations c CROSS JOIN events e ON e.conversation_id = c.id"
                f" AND e.kind IN ('message', 'start'){where}{order}, e.seq",
                params,
            ),
            # One row per conversation: the event-derived facts are kept on it by the
            # append path (store/sqlite/_batch.py).
            "figures": (
                "SELECT c.id, c.topic, c.status, c.created_at, c.closed_at, c.rating,"
                " c.rating_comment, c.tags, c.last_agent_id, c.first_assigned_at,"
                " c.first_response_at, c.transfers, c.bot_id, c.handed_over_at"
                f" FROM conversations c{where}{order}",
                params,
            ),
            "rated_texts": (
                "SELECT c.id, c.rating, c.visitor_id, v.name, v.email,"
                " json_extract(e.body, '$.text'), json_extract(e.body, '$.comment')"
                f" FROM conversations c CROSS JOIN events e ON e.conversation_id = c.id{visitors}"
                f"{where + ' AND ' if where else ' WHERE '}{rated}"
                " AND ((e.kind = 'message' AND e.actor_role = 'visitor') OR e.kind = 'rating')"
                f"{order}, e.seq",
                params,
            ),
        }

    def message_texts(self, events: list[MessageEvent]) -> str | list[str]:
        return texts_of(events, self.conn)

    def rated_texts(self, filters: Filters, scores: frozenset[int]) -> Iterator[RatedText]:
        sql, params = self.queries(filters)["rated_texts"]
        params = [*params, orjson.dumps(sorted(scores)).decode()]
        for cid, rating, visitor_id, name, email, text, comment in self.conn.execute(sql, params):
            value = text if text is not None else comment
            if isinstance(value, str) and value:
                yield cid, int(rating), visitor_id, name, email, value
