"""The event log (`Transcripts`), on either backend: appends go through the backend's
group-commit writer (its ``_writer.py``, by `SQLPart._submit`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..base import ActorRole, JSONObject, NewEvent, NotFoundError, StoredEvent, UnavailableError
from ..sqlite._batch import Item
from . import _codec as codec
from .part import SQLPart

__all__ = ["TranscriptsPart"]


class TranscriptsPart(SQLPart):
    """Appends, group-committed, and reads of the event log (`Transcripts`)."""

    # --- the event log: group commit --------------------------------------------------------

    async def append(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        *,
        ts: str,
        actor_role: ActorRole,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> StoredEvent:
        """Store one event (with its conversation ``update``); returns after the commit."""
        item = self._item(
            conversation_id, kind, body, ts, actor_role, actor_id, actor_name, client_id, update
        )
        return (await self._submit([item]))[0]

    async def append_many(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        """Store several events in one transaction, all or none; results in list order."""
        prepared = [
            self._item(
                e.conversation_id,
                e.kind,
                e.body,
                e.ts,
                e.actor_role,
                e.actor_id,
                e.actor_name,
                e.client_id,
                e.update,
            )
            for e in items
        ]
        if not prepared:
            return []
        return await self._submit(prepared)

    def _item(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        ts: str,
        actor_role: ActorRole,
        actor_id: str | None,
        actor_name: str | None,
        client_id: str | None,
        update: Mapping[str, Any] | None,
    ) -> Item:
        if not self._accepting:
            raise UnavailableError("the store is not open")
        codec.check_actor_role(actor_role)
        codec.check_ts(ts)
        if not isinstance(conversation_id, str) or not isinstance(kind, str):
            raise TypeError("conversation_id and kind are strings")
        if client_id is not None and not isinstance(client_id, str):
            raise TypeError("client_id is a string or None")
        return (
            conversation_id, kind, body, codec.encode_body(body), ts, actor_role, actor_id,
            actor_name, client_id, codec.conversation_changes(update) if update else None,
        )  # fmt: skip

    async def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[StoredEvent]:
        """Stored events with seq > ``after_seq`` (of ``kinds`` only, if given), in seq order."""
        sql = f"SELECT {codec.EVENT_COLUMNS} FROM events WHERE conversation_id = ? AND seq > ?"
        params: list[Any] = [conversation_id, after_seq]
        if kinds is not None:
            sql += " AND " + self.dialect.member_of("kind")
            params.append(self.dialect.list_param(list(kinds)))
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._read(sql, params)
        if not rows:
            await self.last_seq(conversation_id)  # NotFoundError for an unknown conversation
        return [codec.event_from_row(row) for row in rows]

    async def last_seq(self, conversation_id: str) -> int:
        rows = await self._read(
            "SELECT last_seq FROM conversations WHERE id = ?", [conversation_id]
        )
        if not rows:
            raise NotFoundError(f"unknown conversation {conversation_id!r}")
        return int(rows[0][0])
