"""The dashboard's conversation list and the bots' figures (`DashboardQueries`), on either
backend.

The count and the page are read in one snapshot by the backend's `SQLPart._snapshot`, out of
the hub's way: on SQLite a read-only connection of their own, opened in a worker thread for the
call; on PostgreSQL a ``REPEATABLE READ READ ONLY`` transaction on a pooled connection. The
reads are a `Plan` (sans I/O): `_page` yields each query and is sent back its rows. Pages are
keyset ranges (`PageCursor`), never OFFSET.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..base import NotFoundError
from ..dashboard import (
    BotsToday,
    ConversationQuery,
    ConversationRow,
    ConversationsPage,
    PageCursor,
)
from .dialect import Plan, Row
from .part import SQLPart

__all__ = ["DashboardPart"]


class DashboardPart(SQLPart):
    """The dashboard's list of conversations and the bots' figures."""

    async def conversations_page(self, query: ConversationQuery) -> ConversationsPage:
        return await self._snapshot(_page(query))

    async def bots_today(self, since: str) -> BotsToday:
        return await self._snapshot(_bots_today(since))


def _bots_today(since: str) -> Plan[BotsToday]:
    """Held now: the open conversations (the status index) a bot has not handed over. Since
    ``since``: the bots' conversations that arrived meanwhile (their partial index)."""
    held = yield (
        "SELECT count(*) FROM conversations WHERE status IN ('queued', 'offered', 'active')"
        " AND bot_id IS NOT NULL AND handed_over_at IS NULL",
        (),
    )
    counted = yield (
        "SELECT coalesce(sum(CASE WHEN handed_over_at IS NULL AND status = 'closed'"
        " THEN 1 ELSE 0 END), 0), count(handed_over_at)"
        " FROM conversations WHERE bot_id IS NOT NULL AND created_at >= ?",
        (since,),
    )
    return BotsToday(int(held[0][0]), int(counted[0][0]), int(counted[0][1]))


def _page(q: ConversationQuery) -> Plan[ConversationsPage]:
    """The count and one page. Every filter has an index the page walks in the list's order
    (``tests/analytics/test_list_plans.py`` checks the plans): the agent's entries in
    ``conversation_agents`` (which carry the conversation's created_at and rowid), else the
    tag's in ``conversation_tags``, else the topic's or the status's index, else
    created_at's; the cursor is a range on it."""
    agent_id: str | None = None
    if q.agent is not None:
        found = yield (
            "SELECT id FROM agents WHERE username_key = ? OR id = ?",
            (q.agent.casefold(), q.agent),
        )
        if not found:
            raise NotFoundError(f"no agent {q.agent!r}")
        agent_id = str(found[0][0])
    source, key, where, params = _where(q, agent_id)
    # Counted from the agent's or tag's index entries alone when no filter needs the
    # conversation's row (each entry has one): no look-up of a row per entry.
    counting = source.split(" JOIN ")[0] if "c." not in where else source
    counted = yield f"SELECT count(*) FROM {counting}{where}", params
    cursor = q.cursor
    newer = cursor is not None and cursor.direction == "newer"
    if cursor is not None:
        where += f"{' AND ' if where else ' WHERE '}({key}) {'>' if newer else '<'} (?, ?)"
        params = [*params, cursor.created_at, cursor.rowid]
    way = "" if newer else " DESC"
    order = ", ".join(f"{column}{way}" for column in key.split(", "))
    rows = yield (
        "SELECT c.id, c.created_at, c.closed_at, c.topic, c.language, c.status, c.rating,"
        " c.tags, a.display_name, v.name,"
        " (SELECT count(*) FROM events e WHERE e.conversation_id = c.id"
        "  AND e.kind = 'message'), c.rowid,"
        " CASE WHEN c.handed_over_at IS NULL AND c.status <> 'closed'"
        "  THEN coalesce(b.name, c.bot_id) END"
        f" FROM {source} LEFT JOIN visitors v ON v.id = c.visitor_id"
        " LEFT JOIN agents a ON a.id = c.last_agent_id"
        f" LEFT JOIN bots b ON b.id = c.bot_id{where}"
        f" ORDER BY {order} LIMIT ?",
        [*params, q.per_page + 1],
    )
    more = len(rows) > q.per_page
    rows = list(rows[: q.per_page])
    if newer:
        rows.reverse()
    total = int(counted[0][0]) if counted else 0
    first, last = (rows[0], rows[-1]) if rows else (None, None)
    older_cursor = newer_cursor = None
    if last is not None and (more or newer):
        older_cursor = PageCursor("older", last[1], int(last[11]))
    if first is not None and (cursor is not None and (more or not newer)):
        newer_cursor = PageCursor("newer", first[1], int(first[11]))
    return ConversationsPage(
        total, tuple(_row(row) for row in rows), older=older_cursor, newer=newer_cursor
    )


def _where(q: ConversationQuery, agent_id: str | None) -> tuple[str, str, str, list[Any]]:
    """The FROM clause, the page's key (its columns, in the list's order), the WHERE clause
    and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    # The agent's or the tag's index entries drive the page when there are some: they carry
    # the conversation's created_at and rowid, the list's order.
    entries = (
        ("conversation_agents", "agent_id", agent_id)
        if agent_id is not None
        else ("conversation_tags", "tag", q.tag)
        if q.tag is not None
        else None
    )
    if entries is not None:
        table, column, value = entries
        source = f"{table} p JOIN conversations c ON c.rowid = p.conversation_rowid"
        key, created = "p.created_at, p.conversation_rowid", "p.created_at"
        clauses.append(f"p.{column} = ?")
        params.append(value)
    else:
        source, key, created = "conversations c", "c.created_at, c.rowid", "c.created_at"
    if q.since is not None:
        clauses.append(f"{created} >= ?")
        params.append(q.since)
    if q.until is not None:
        clauses.append(f"{created} < ?")
        params.append(q.until)
    if q.topic is not None:
        clauses.append("c.topic = ?")
        params.append(q.topic)
    if q.tag is not None and agent_id is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM conversation_tags g WHERE g.conversation_id = c.id"
            " AND g.tag = ?)"
        )
        params.append(q.tag)
    if q.status is not None:
        clauses.append("c.status = ?")
        params.append(q.status)
    return source, key, (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row(row: Row) -> ConversationRow:
    cid, created, closed, topic, language, status, rating, tags, agent, name, messages, _, bot = row
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
        bot=bot,
    )
