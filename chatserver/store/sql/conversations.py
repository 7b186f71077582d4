"""Visitors, conversations and routing decisions (`Conversations`), on either backend."""

from __future__ import annotations

from typing import Any

from ..base import ConversationRecord, DecisionRecord, JSONObject, NotFoundError, VisitorRecord
from ..sqlite._batch import DELETE_TAGS, INSERT_TAG
from . import _codec as codec
from .dialect import Row, Tx
from .part import SQLPart

__all__ = ["ConversationsPart"]


class ConversationsPart(SQLPart):
    """Visitors, conversations and decisions."""

    # --- visitors ---------------------------------------------------------------------------

    async def add_visitor(self, visitor: VisitorRecord) -> None:
        await self._insert(
            "add visitor", "visitors", codec.VISITOR_COLUMNS, codec.visitor_row(visitor)
        )

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None:
        rows = await self._read(
            f"SELECT {codec.VISITOR_COLUMNS} FROM visitors WHERE id = ?", [visitor_id]
        )
        return codec.visitor_from_row(rows[0]) if rows else None

    async def get_visitor_by_token_hash(self, token_hash: str) -> VisitorRecord | None:
        rows = await self._read(
            f"SELECT {codec.VISITOR_COLUMNS} FROM visitors WHERE token_hash = ?", [token_hash]
        )
        return codec.visitor_from_row(rows[0]) if rows else None

    async def update_visitor(self, visitor_id: str, **fields: Any) -> VisitorRecord:
        changes = codec.visitor_changes(fields)
        row = await self._update(
            "update visitor", "visitors", visitor_id, changes, codec.VISITOR_COLUMNS
        )
        return codec.visitor_from_row(row)

    # --- conversations ----------------------------------------------------------------------

    async def add_conversation(self, conversation: ConversationRecord) -> None:
        row = codec.conversation_row(conversation)
        sql = (
            f"INSERT INTO conversations ({codec.CONVERSATION_COLUMNS})"
            f" VALUES ({', '.join('?' * len(row))})"
        )

        async def work(tx: Tx) -> None:
            await tx.execute(sql, row)
            if conversation.tags:
                await _set_tags(tx, conversation.id, list(conversation.tags))

        await self._transaction(f"add conversation {conversation.id!r}", work)

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        rows = await self._read(
            f"SELECT {codec.CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
            [conversation_id],
        )
        return codec.conversation_from_row(rows[0]) if rows else None

    async def list_conversations(
        self,
        *,
        visitor_id: str | None = None,
        agent_id: str | None = None,
        status: str | set[str] | frozenset[str] | None = None,
        limit: int | None = None,
    ) -> list[ConversationRecord]:
        where: list[str] = []
        params: list[Any] = []
        if visitor_id is not None:
            where.append("visitor_id = ?")
            params.append(visitor_id)
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if isinstance(status, str):
            where.append("status = ?")
            params.append(status)
        elif status is not None:
            where.append(self.dialect.member_of("status"))
            params.append(self.dialect.list_param(sorted(status)))
        sql = f"SELECT {codec.CONVERSATION_COLUMNS} FROM conversations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [codec.conversation_from_row(row) for row in await self._read(sql, params)]

    async def list_user_conversations(
        self, site: str, external_id: str, *, limit: int | None = None
    ) -> list[ConversationRecord]:
        sql = (
            f"SELECT {codec.CONVERSATION_COLUMNS} FROM conversations WHERE visitor_id IN"
            " (SELECT id FROM visitors WHERE site = ? AND external_id = ? AND verified = 1)"
            " ORDER BY created_at DESC, id DESC"
        )
        params: list[Any] = [site, external_id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._read(sql, params)
        return [codec.conversation_from_row(row) for row in reversed(rows)]

    async def update_conversation(self, conversation_id: str, **fields: Any) -> ConversationRecord:
        changes = codec.conversation_changes(fields)
        if "tags" not in changes:
            row = await self._update(
                "update conversation",
                "conversations",
                conversation_id,
                changes,
                codec.CONVERSATION_COLUMNS,
            )
            return codec.conversation_from_row(row)
        sets = ", ".join(f"{name} = ?" for name in changes)
        sql = f"UPDATE conversations SET {sets} WHERE id = ? RETURNING {codec.CONVERSATION_COLUMNS}"

        async def work(tx: Tx) -> Row | None:
            found = await tx.fetchone(sql, [*changes.values(), conversation_id])
            if found is not None:
                await _set_tags(tx, conversation_id, list(fields["tags"]))
            return found

        updated = await self._transaction("update conversation", work)
        if updated is None:
            raise NotFoundError(f"update conversation: unknown id {conversation_id!r}")
        return codec.conversation_from_row(updated)

    # --- routing decisions ------------------------------------------------------------------

    async def add_decision(
        self, conversation_id: str, ts: str, explanation: JSONObject
    ) -> DecisionRecord:
        codec.check_ts(ts)
        text = codec.encode_body(explanation)

        async def work(tx: Tx) -> int:
            row = await tx.fetchone(
                "INSERT INTO decisions (conversation_id, ts, explanation) VALUES (?, ?, ?)"
                " RETURNING id",
                (conversation_id, ts, text),
            )
            assert row is not None
            return int(row[0])

        new_id = await self._transaction("add decision", work)
        return DecisionRecord(new_id, conversation_id, ts, explanation)

    async def decisions(self, conversation_id: str) -> list[DecisionRecord]:
        rows = await self._read(
            f"SELECT {codec.DECISION_COLUMNS} FROM decisions WHERE conversation_id = ? ORDER BY id",
            [conversation_id],
        )
        return [codec.decision_from_row(row) for row in rows]


async def _set_tags(tx: Tx, conversation_id: str, tags: list[str]) -> None:
    """Keep ``conversation_tags`` in step with the conversation's new ``tags``."""
    await tx.execute(DELETE_TAGS, (conversation_id,))
    for tag in dict.fromkeys(tags):
        await tx.execute(INSERT_TAG, (tag, conversation_id))
