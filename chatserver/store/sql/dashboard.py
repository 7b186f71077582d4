"""The dashboard's conversation list (`DashboardQueries`), on either backend.

The count and the page are read in one snapshot by the backend's `SQLPart._snapshot`, out of
the hub's way: on SQLite a read-only connection of their own, opened in a worker thread for the
call; on PostgreSQL a ``REPEATABLE READ READ ONLY`` transaction on a pooled connection. The
reads are a `Plan` (sans I/O): `_page` yields each query and is sent back its rows.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..base import NotFoundError
from ..dashboard import ConversationQuery, ConversationRow, ConversationsPage
from .dialect import Dialect, Plan, Row
from .part import SQLPart

__all__ = ["DashboardPart"]


class DashboardPart(SQLPart):
    """The dashboard's list of conversations."""

    async def conversations_page(self, query: ConversationQuery) -> ConversationsPage:
        return await self._snapshot(_page(self.dialect, query))


def _page(d: Dialect, q: ConversationQuery) -> Plan[ConversationsPage]:
    agent_id: str | None = None
    if q.agent is not None:
        found = yield (
            "SELECT id FROM agents WHERE username_key = ? OR id = ?",
            (q.agent.casefold(), q.agent),
        )
        if not found:
            raise NotFoundError(f"no agent {q.agent!r}")
        agent_id = str(found[0][0])
    where, params = _where(d, q, agent_id)
    counted = yield f"SELECT count(*) FROM conversations c{where}", params
    rows = yield (
        "SELECT c.id, c.created_at, c.closed_at, c.topic, c.language, c.status, c.rating,"
        " c.tags, a.display_name, v.name,"
        " (SELECT count(*) FROM events e WHERE e.conversation_id = c.id"
        "  AND e.kind = 'message')"
        " FROM conversations c LEFT JOIN visitors v ON v.id = c.visitor_id"
        f" LEFT JOIN agents a ON a.id = c.last_agent_id{where}"
        " ORDER BY c.created_at DESC, c.rowid DESC LIMIT ? OFFSET ?",
        [*params, q.per_page, (q.page - 1) * q.per_page],
    )
    total = int(counted[0][0]) if counted else 0
    return ConversationsPage(total, tuple(_row(row) for row in rows))


def _where(d: Dialect, q: ConversationQuery, agent_id: str | None) -> tuple[str, list[Any]]:
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
        clauses.append(f"EXISTS (SELECT 1 FROM {d.elements_of('c.tags')} WHERE t.value = ?)")
        params.append(q.tag)
    if agent_id is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id"
            f" AND a.kind = 'assigned' AND {d.field_of('a.body', 'agent_id')} = ?)"
        )
        params.append(agent_id)
    if q.status is not None:
        clauses.append("c.status = ?")
        params.append(q.status)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(row: Row) -> ConversationRow:
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
