"""`PostgresSnapshot`: the `ReadSnapshot` of a PostgreSQL store.

A synchronous psycopg connection of its own (not one of the store's pool), in one
``REPEATABLE READ READ ONLY`` transaction for the snapshot's life: every query sees the state
of its first read, and PostgreSQL's readers never wait for writers nor hold them up. Scans are
server-side (named) cursors fetched ``ITERSIZE`` rows at a time, so memory stays flat however
large the store; the planner is kept from hashing and sorting whole tables (the scans walk
the ``(created_at, rowid)`` index and each conversation's events by the primary key), and two
cursors in the same order are walked side by side (``_scan.py``), as on SQLite.

Order and values are SQLite's: the conversations' ``rowid`` column is their insertion order,
every text column sorts bytewise (``COLLATE "C"``), and texts come out of JSON bodies through
SQLite's own ``json_extract`` (an in-memory SQLite connection) wherever the plain fast path
does not apply — so both stores export the same bytes.

The cursor is ``pg_snapshot_xmin`` of the snapshot: the oldest transaction still running when
it was taken. Each event records the transaction that wrote it (``events.xid``, migration
0002); every event this snapshot could not see has an ``xid`` at or above the mark, so
``after`` it takes those conversations (and maybe a few this one saw) and never misses one,
however the writers' transactions interleave.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import TupleRow

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
from ._errors import redacted, store_error

__all__ = ["ITERSIZE", "PostgresSnapshot"]

#: Rows fetched per round trip by the server-side cursors.
ITERSIZE = 2000

_CONVERSATION_COLUMNS = (
    "c.id, c.visitor_id, c.site, c.topic, c.language, c.status, c.created_at, c.closed_at,"
    " c.closed_by, c.page_url, c.rating, c.rating_comment, c.tags, c.last_seq, c.last_agent_id,"
    " v.name, v.email, c.bot_id, c.handed_over_at"
)
_EVENT_COLUMNS = (
    "e.conversation_id, e.seq, e.ts, e.kind, e.actor_role, e.actor_id, e.actor_name,"
    " e.client_id, e.body"
)
_ORDER = " ORDER BY c.created_at, c.rowid"
_VISITORS = " LEFT JOIN visitors v ON v.id = c.visitor_id"
# Walk indexes in order rather than hash or sort whole tables (a sort would be a spill to
# disk before the first row); a sort of one conversation's events (incremental) is fine.
_PLANNER = (
    "SET LOCAL enable_hashjoin = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL enable_sort = off",
)
_RATED_TEXT = "SELECT json_extract(?1, '$.text'), json_extract(?1, '$.comment')"
_names = itertools.count(1)


class PostgresSnapshot(SnapshotBase):
    """A consistent, read-only view of the PostgreSQL store at ``url``."""

    _cutoff_sql = (
        "SELECT to_char((now() AT TIME ZONE 'UTC') - interval '1 hour', 'YYYY-MM-DD\"T\"HH24')"
    )

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self.url = url
        try:
            conn = psycopg.connect(url, connect_timeout=max(1, round(connect_timeout)))
        except psycopg.Error as exc:
            raise UnavailableError(
                f"cannot open the PostgreSQL store {redacted(url)}: {exc}"
            ) from exc
        try:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            for statement in _PLANNER:
                conn.execute(statement)
            # The first read takes the snapshot: everything below sees this state.
            row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()
            conn.execute("SELECT 1 FROM events WHERE xid IS NULL LIMIT 0")  # migrated?
        except psycopg.Error as exc:
            conn.close()
            if isinstance(exc, psycopg.errors.UndefinedColumn | psycopg.errors.UndefinedTable):
                raise UnavailableError(
                    f"{redacted(url)}: the schema predates analytics; open the store once with"
                    " this version of the hub (any chatserver command) to migrate it"
                ) from None
            raise store_error(exc, "snapshot") from exc
        assert row is not None
        self._conn: psycopg.Connection[TupleRow] | None = conn
        self._cursor = Cursor("postgresql", int(row[0]))
        self._name = redacted(url)
        # SQLite's json_extract, for the bodies the fast path does not take.
        self._json = sqlite3.connect(":memory:", check_same_thread=False)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.rollback()  # read only: nothing to commit
            except psycopg.Error:
                pass
            conn.close()
            self._json.close()

    @property
    def conn(self) -> psycopg.Connection[TupleRow]:
        if self._conn is None:
            raise RuntimeError("this snapshot is closed")
        return self._conn

    def _lookup(self, sql: str, params: Sequence[Any] = ()) -> TupleRow | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        try:
            return self.conn.execute(sql.replace("?", "%s"), params).fetchall()
        except psycopg.Error as exc:
            raise store_error(exc, "snapshot") from exc

    def _scan(self, sql: str, params: list[Any]) -> Iterator[TupleRow]:
        """The rows of ``sql`` from a server-side cursor, ``ITERSIZE`` at a time."""
        try:
            # Binary rows: the same values, parsed in about two thirds of the time.
            with self.conn.cursor(name=f"scan_{next(_names)}", binary=True) as cur:
                cur.execute(sql, params)
                while rows := cur.fetchmany(ITERSIZE):
                    yield from rows
        except psycopg.Error as exc:
            raise store_error(exc, "snapshot") from exc

    # --- filtered scans ---------------------------------------------------------------------

    def where(self, filters: Filters) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.since is not None:
            clauses.append("c.created_at >= %s")
            params.append(filters.since)
        if filters.until is not None:
            clauses.append("c.created_at < %s")
            params.append(filters.until)
        if filters.topic is not None:
            clauses.append("c.topic = %s")
            params.append(filters.topic)
        if filters.tag is not None:
            # A primary-key probe of conversation_tags (kept in step with the tags column), as
            # for the agent below, instead of reading each row's JSON.
            clauses.append(
                "EXISTS (SELECT 1 FROM conversation_tags g WHERE g.conversation_id = c.id"
                " AND g.tag = %s)"
            )
            params.append(filters.tag)
        if filters.ratings is not None:
            clauses.append("c.rating = ANY(%s)")
            params.append(sorted(filters.ratings))
        if filters.agent is not None:
            # A primary-key probe per conversation: with hashing turned off (above) an IN list
            # would be read again for every row.
            clauses.append(
                "EXISTS (SELECT 1 FROM conversation_agents p WHERE p.conversation_id = c.id"
                " AND p.agent_id = %s)"
            )
            params.append(self.resolve_agent(filters.agent))
        if filters.after is not None:
            cursor = filters.after
            if cursor.store != "postgresql":
                raise BadSelection(
                    f"cursor {cursor} was printed by an export from a {cursor.store} store;"
                    " this store is PostgreSQL: export once without --after to start again here"
                )
            clauses.append("c.id IN (SELECT conversation_id FROM events WHERE xid >= %s::xid8)")
            params.append(str(cursor.mark))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def queries(self, filters: Filters) -> dict[str, tuple[str, list[Any]]]:
        """The scans' SQL and parameters, by name (a test checks none of them sorts whole
        tables; ``rated_texts`` takes the scores as one more parameter)."""
        where, params = self.where(filters)
        return {
            "conversations": (
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c{_VISITORS}{where}{_ORDER}",
                params,
            ),
            "events": (
                f"SELECT {_EVENT_COLUMNS} FROM conversations c"
                f" JOIN events e ON e.conversation_id = c.id{where}{_ORDER}, e.seq",
                params,
            ),
            "message_conversations": (
                "SELECT c.id, c.visitor_id, c.topic, c.language, v.name, v.email"
                f" FROM conversations c{_VISITORS}{where}{_ORDER}",
                params,
            ),
            "messages": (
                "SELECT e.conversation_id, e.seq, e.ts,"
                " CASE WHEN e.kind = 'start' THEN NULL ELSE e.actor_role END,"
                " coalesce(e.actor_name, ''), e.body"
                " FROM conversations c JOIN events e ON e.conversation_id = c.id"
                f" AND e.kind IN ('message', 'start'){where}{_ORDER}, e.seq",
                params,
            ),
            # One row per conversation: the event-derived facts are kept on it by the
            # append path (store/sqlite/_batch.py).
            "figures": (
                "SELECT c.id, c.topic, c.status, c.created_at, c.closed_at, c.rating,"
                " c.rating_comment, c.tags, c.last_agent_id, c.first_assigned_at,"
                " c.first_response_at, c.transfers, c.bot_id, c.handed_over_at"
                f" FROM conversations c{where}{_ORDER}",
                params,
            ),
            "rated_texts": (
                "SELECT c.id, c.rating, c.visitor_id, v.name, v.email, e.body"
                f" FROM conversations c JOIN events e ON e.conversation_id = c.id{_VISITORS}"
                f"{where + ' AND ' if where else ' WHERE '}c.rating = ANY(%s)"
                " AND ((e.kind = 'message' AND e.actor_role = 'visitor') OR e.kind = 'rating')"
                f"{_ORDER}, e.seq",
                params,
            ),
        }

    def message_texts(self, events: list[MessageEvent]) -> str | list[str]:
        return texts_of(events, self._json)

    def rated_texts(self, filters: Filters, scores: frozenset[int]) -> Iterator[RatedText]:
        sql, params = self.queries(filters)["rated_texts"]
        extract = self._json.execute
        for cid, rating, visitor_id, name, email, body in self._scan(
            sql, [*params, sorted(scores)]
        ):
            text, comment = extract(_RATED_TEXT, (body,)).fetchone()
            value = text if text is not None else comment
            if isinstance(value, str) and value:
                yield cid, int(rating), visitor_id, name, email, value
