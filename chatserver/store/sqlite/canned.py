"""Canned responses on SQLite (`CannedResponses`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..base import CannedResponse, NotFoundError
from . import _codec as codec
from .connection import Conn, SQLiteBase

__all__ = ["CannedPart"]


class CannedPart(SQLiteBase):
    """Canned responses and the tags in use."""

    # --- canned responses (agent console) ---------------------------------------------------

    async def list_canned(self, agent_id: str) -> list[CannedResponse]:
        rows = await self._read(
            "SELECT id, owner_id, shortcut, text, created_at FROM canned_responses"
            " WHERE owner_id IN ('', ?) ORDER BY shortcut, owner_id",
            [agent_id],
        )
        return [_canned(row) for row in rows]

    async def get_canned(self, canned_id: int) -> CannedResponse | None:
        rows = await self._read(
            "SELECT id, owner_id, shortcut, text, created_at FROM canned_responses WHERE id = ?",
            [canned_id],
        )
        return _canned(rows[0]) if rows else None

    async def add_canned(
        self, owner_id: str | None, shortcut: str, text: str, *, ts: str
    ) -> CannedResponse:
        codec.check_ts(ts)
        owner = owner_id or ""

        async def work(conn: Conn) -> int:
            cursor = await conn.execute(
                "INSERT INTO canned_responses (owner_id, shortcut, text, created_at)"
                " VALUES (?, ?, ?, ?)",
                (owner, shortcut, text, ts),
            )
            new_id = cursor.lastrowid
            assert new_id is not None
            return new_id

        new_id = await self._transaction(f"add canned response {shortcut!r}", work)
        return CannedResponse(new_id, owner_id or None, shortcut, text, ts)

    async def delete_canned(self, canned_id: int) -> None:
        async def work(conn: Conn) -> int:
            cursor = await conn.execute("DELETE FROM canned_responses WHERE id = ?", (canned_id,))
            return cursor.rowcount

        if not await self._transaction("delete canned response", work):
            raise NotFoundError(f"delete canned response: unknown id {canned_id!r}")

    async def update_canned(self, canned_id: int, shortcut: str, text: str) -> CannedResponse:
        async def work(conn: Conn) -> list[Any]:
            return list(
                await conn.execute_fetchall(
                    "UPDATE canned_responses SET shortcut = ?, text = ? WHERE id = ?"
                    " RETURNING id, owner_id, shortcut, text, created_at",
                    (shortcut, text, canned_id),
                )
            )

        rows = await self._transaction(f"update canned response {shortcut!r}", work)
        if not rows:
            raise NotFoundError(f"update canned response: unknown id {canned_id!r}")
        return _canned(rows[0])

    async def used_tags(self, limit: int = 200) -> list[str]:
        rows = await self._read(
            "SELECT j.value, count(*) AS n FROM conversations, json_each(conversations.tags) AS j"
            " GROUP BY j.value ORDER BY n DESC, j.value LIMIT ?",
            [limit],
        )
        return [str(row[0]) for row in rows]


def _canned(row: sqlite3.Row) -> CannedResponse:
    return CannedResponse(int(row[0]), row[1] or None, row[2], row[3], row[4])
