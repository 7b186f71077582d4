"""Canned responses on PostgreSQL (`CannedResponses`)."""

from __future__ import annotations

from psycopg.rows import TupleRow

from ..base import CannedResponse, NotFoundError
from ..sqlite import _codec as codec
from .connection import Conn, PostgresBase

__all__ = ["CannedPart"]

_COLUMNS = "id, owner_id, shortcut, text, created_at"


class CannedPart(PostgresBase):
    """Canned responses and the tags in use."""

    async def list_canned(self, agent_id: str) -> list[CannedResponse]:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM canned_responses"
            " WHERE owner_id IN ('', %s) ORDER BY shortcut, owner_id",
            [agent_id],
        )
        return [_canned(row) for row in rows]

    async def get_canned(self, canned_id: int) -> CannedResponse | None:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM canned_responses WHERE id = %s", [canned_id]
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
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (owner, shortcut, text, ts),
            )
            row = await cursor.fetchone()
            assert row is not None
            return int(row[0])

        new_id = await self._transaction(f"add canned response {shortcut!r}", work)
        return CannedResponse(new_id, owner_id or None, shortcut, text, ts)

    async def delete_canned(self, canned_id: int) -> None:
        async def work(conn: Conn) -> int:
            cursor = await conn.execute("DELETE FROM canned_responses WHERE id = %s", (canned_id,))
            return cursor.rowcount

        if not await self._transaction("delete canned response", work):
            raise NotFoundError(f"delete canned response: unknown id {canned_id!r}")

    async def update_canned(self, canned_id: int, shortcut: str, text: str) -> CannedResponse:
        async def work(conn: Conn) -> TupleRow | None:
            cursor = await conn.execute(
                "UPDATE canned_responses SET shortcut = %s, text = %s WHERE id = %s"
                f" RETURNING {_COLUMNS}",
                (shortcut, text, canned_id),
            )
            return await cursor.fetchone()

        row = await self._transaction(f"update canned response {shortcut!r}", work)
        if row is None:
            raise NotFoundError(f"update canned response: unknown id {canned_id!r}")
        return _canned(row)

    async def used_tags(self, limit: int = 200) -> list[str]:
        rows = await self._read(
            "SELECT t.tag, count(*) AS n FROM conversations,"
            " jsonb_array_elements_text(conversations.tags::jsonb) AS t (tag)"
            ' GROUP BY t.tag ORDER BY n DESC, t.tag COLLATE "C" LIMIT %s',
            [limit],
        )
        return [str(row[0]) for row in rows]


def _canned(row: TupleRow) -> CannedResponse:
    return CannedResponse(int(row[0]), row[1] or None, row[2], row[3], row[4])
