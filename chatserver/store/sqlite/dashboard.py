"""The dashboard's conversation list on SQLite (`DashboardQueries`).

The count and the page are read in one read transaction on a connection of their own
(``query_only``), opened in a worker thread for the call: a filter that scans a large store
runs beside the hub's reader and writer, never in their way.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import orjson

from ..base import NotFoundError, UnavailableError
from ..dashboard import ConversationQuery, ConversationRow, ConversationsPage
from ._writer import store_error
from .connection import SQLiteBase

__all__ = ["DashboardPart"]


class DashboardPart(SQLiteBase):
    """The dashboard's list of conversations."""

    async def conversations_page(self, query: ConversationQuery) -> ConversationsPage:
        if self._reader is None or not self._accepting:
            raise UnavailableError("the store is not open")
        return await asyncio.to_thread(self._conversations_page, query)

    def _conversations_page(self, q: ConversationQuery) -> ConversationsPage:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")  # one snapshot for the count and the page
            where, params = _where(conn, q)
            total = int(
                conn.execute(f"SELECT count(*) FROM conversations c{where}", params).fetchone()[0]
            )
            rows = conn.execute(
                "SELECT c.id, c.created_at, c.closed_at, c.topic, c.language, c.status, c.rating,"
                " c.tags, a.display_name, v.name,"
                " (SELECT count(*) FROM events e WHERE e.conversation_id = c.id"
                "  AND e.kind = 'message')"
                " FROM conversations c LEFT JOIN visitors v ON v.id = c.visitor_id"
                f" LEFT JOIN agents a ON a.id = c.last_agent_id{where}"
                " ORDER BY c.created_at DESC, c.rowid DESC LIMIT ? OFFSET ?",
                [*params, q.per_page, (q.page - 1) * q.per_page],
            ).fetchall()
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise store_error(exc, "read") from exc
        finally:
            conn.close()
        return ConversationsPage(total, tuple(_row(row) for row in rows))


def _where(conn: sqlite3.Connection, q: ConversationQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.since is not None:
        clauses.append("c.created_at >= ?")
        params.append(q.since)
    if q.until is not None:
        clauses.append("c.created_at < ?")
        params.append(q.until)
    if q.topic is not None:
        clauses.append("c.topic = ?")
        params.append(q.topic)
    if q.tag is not None:
        clauses.append("EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ?)")
        params.append(q.tag)
    if q.agent is not None:
        found = conn.execute(
            "SELECT id FROM agents WHERE username_key = ? OR id = ?", (q.agent.casefold(), q.agent)
        ).fetchone()
        if found is None:
            raise NotFoundError(f"no agent {q.agent!r}")
        clauses.append(
            "EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id"
            " AND a.kind = 'assigned' AND json_extract(a.body, '$.agent_id') = ?)"
        )
        params.append(str(found[0]))
    if q.status is not None:
        clauses.append("c.status = ?")
        params.append(q.status)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(row: tuple[Any, ...]) -> ConversationRow:
    cid, created, closed, topic, language, status, rating, tags, agent, name, messages = row
    return ConversationRow(
        conversation_id=cid,
        created_at=created,
        closed_at=closed,
        topic=topic,
        language=language,
        status=status,
        rating=rating,
        tags=tuple(orjson.loads(tags)),
        agent=agent,
        visitor_name=name,
        messages=int(messages),
    )
