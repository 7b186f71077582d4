"""The dashboard's conversation list on PostgreSQL (`DashboardQueries`).

The count and the page are read in one ``REPEATABLE READ READ ONLY`` transaction on a pooled
connection: one snapshot for both, and PostgreSQL's readers never wait for its writers nor
hold them up, so a filter that scans a large store is out of the hub's way.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg.rows import TupleRow

from ..base import NotFoundError
from ..dashboard import ConversationQuery, ConversationRow, ConversationsPage
from ._errors import store_error
from .connection import Conn, PostgresBase

__all__ = ["DashboardPart"]


class DashboardPart(PostgresBase):
    """The dashboard's list of conversations."""

    async def conversations_page(self, query: ConversationQuery) -> ConversationsPage:
        pool = self._open_pool()
        try:
            async with pool.connection() as conn:
                await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    page = await _page(conn, query)
                finally:
                    await conn.execute("ROLLBACK")
        except psycopg.Error as exc:
            raise store_error(exc, "read") from exc
        return page


async def _page(conn: Conn, q: ConversationQuery) -> ConversationsPage:
    where, params = await _where(conn, q)
    cursor = await conn.execute(f"SELECT count(*) FROM conversations c{where}", params)
    counted = await cursor.fetchone()
    total = int(counted[0]) if counted is not None else 0
    cursor = await conn.execute(
        "SELECT c.id, c.created_at, c.closed_at, c.topic, c.language, c.status, c.rating,"
        " c.tags, a.display_name, v.name,"
        " (SELECT count(*) FROM events e WHERE e.conversation_id = c.id"
        "  AND e.kind = 'message')"
        " FROM conversations c LEFT JOIN visitors v ON v.id = c.visitor_id"
        f" LEFT JOIN agents a ON a.id = c.last_agent_id{where}"
        " ORDER BY c.created_at DESC, c.rowid DESC LIMIT %s OFFSET %s",
        [*params, q.per_page, (q.page - 1) * q.per_page],
    )
    rows = await cursor.fetchall()
    return ConversationsPage(total, tuple(_row(row) for row in rows))


async def _where(conn: Conn, q: ConversationQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.since is not None:
        clauses.append("c.created_at >= %s")
        params.append(q.since)
    if q.until is not None:
        clauses.append("c.created_at < %s")
        params.append(q.until)
    if q.topic is not None:
        clauses.append("c.topic = %s")
        params.append(q.topic)
    if q.tag is not None:
        clauses.append("c.tags::jsonb ? %s")
        params.append(q.tag)
    if q.agent is not None:
        cursor = await conn.execute(
            "SELECT id FROM agents WHERE username_key = %s OR id = %s",
            (q.agent.casefold(), q.agent),
        )
        found = await cursor.fetchone()
        if found is None:
            raise NotFoundError(f"no agent {q.agent!r}")
        clauses.append(
            "EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id"
            " AND a.kind = 'assigned' AND a.body::jsonb ->> 'agent_id' = %s)"
        )
        params.append(str(found[0]))
    if q.status is not None:
        clauses.append("c.status = %s")
        params.append(q.status)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(row: TupleRow) -> ConversationRow:
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
