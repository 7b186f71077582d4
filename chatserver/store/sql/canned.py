"""Canned responses (`CannedResponses`), on either backend."""

from __future__ import annotations

from ..base import CannedResponse, NotFoundError
from . import _codec as codec
from .dialect import Row, Tx
from .part import SQLPart

__all__ = ["CannedPart"]

_COLUMNS = "id, owner_id, shortcut, text, created_at"


class CannedPart(SQLPart):
    """Canned responses and the tags in use."""

    async def list_canned(self, agent_id: str) -> list[CannedResponse]:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM canned_responses"
            " WHERE owner_id IN ('', ?) ORDER BY shortcut, owner_id",
            [agent_id],
        )
        return [_canned(row) for row in rows]

    async def get_canned(self, canned_id: int) -> CannedResponse | None:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM canned_responses WHERE id = ?", [canned_id]
        )
        return _canned(rows[0]) if rows else None

    async def add_canned(
        self, owner_id: str | None, shortcut: str, text: str, *, ts: str
    ) -> CannedResponse:
        codec.check_ts(ts)
        owner = owner_id or ""

        async def work(tx: Tx) -> int:
            row = await tx.fetchone(
                "INSERT INTO canned_responses (owner_id, shortcut, text, created_at)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (owner, shortcut, text, ts),
            )
            assert row is not None
            return int(row[0])

        new_id = await self._transaction(f"add canned response {shortcut!r}", work)
        return CannedResponse(new_id, owner_id or None, shortcut, text, ts)

    async def delete_canned(self, canned_id: int) -> None:
        async def work(tx: Tx) -> int:
            return await tx.execute("DELETE FROM canned_responses WHERE id = ?", (canned_id,))

        if not await self._transaction("delete canned response", work):
            raise NotFoundError(f"delete canned response: unknown id {canned_id!r}")

    async def update_canned(self, canned_id: int, shortcut: str, text: str) -> CannedResponse:
        async def work(tx: Tx) -> Row | None:
            return await tx.fetchone(
                f"UPDATE canned_responses SET shortcut = ?, text = ? WHERE id = ? RETURNING {_COLUMNS}",
                (shortcut, text, canned_id),
            )

        row = await self._transaction(f"update canned response {shortcut!r}", work)
        if row is None:
            raise NotFoundError(f"update canned response: unknown id {canned_id!r}")
        return _canned(row)

    async def used_tags(self, limit: int = 200) -> list[str]:
        d = self.dialect
        rows = await self._read(
            f"SELECT t.value, count(*) AS n FROM conversations, {d.elements_of('conversations.tags')}"
            f" GROUP BY t.value ORDER BY n DESC, t.value{d.by_code_point} LIMIT ?",
            [limit],
        )
        return [str(row[0]) for row in rows]


def _canned(row: Row) -> CannedResponse:
    return CannedResponse(int(row[0]), row[1] or None, row[2], row[3], row[4])
