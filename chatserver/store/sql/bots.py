"""Bots (`Bots`), on either backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from ..bots import BOT_FIELDS, BotFigures, BotRecord
from . import _codec as codec
from .dialect import Row, Tx
from .part import SQLPart

__all__ = ["BotsPart"]

_COLUMNS = (
    "id, name, endpoint_id, key_id, topics, answer_timeout_s, enabled, created_at, updated_at"
)


def _topics_text(topics: Sequence[str]) -> str:
    if isinstance(topics, str) or not all(
        isinstance(t, str) and t and "," not in t for t in topics
    ):
        raise ValueError(f"topics is a sequence of topic names, not {topics!r}")
    return "," + ",".join(dict.fromkeys(topics)) + "," if topics else ","


def _timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86_400:
        raise ValueError(
            f"answer_timeout_s must be a number of seconds in (0, 86400), not {value!r}"
        )
    return float(value)


def _bot(row: Row) -> BotRecord:
    return BotRecord(
        id=row[0],
        name=row[1],
        endpoint_id=row[2],
        key_id=row[3],
        topics=tuple(t for t in str(row[4]).split(",") if t),
        answer_timeout_s=float(row[5]),
        enabled=bool(row[6]),
        created_at=row[7],
        updated_at=row[8],
    )


class BotsPart(SQLPart):
    """Bots."""

    async def add_bot(self, bot: BotRecord) -> None:
        codec.check_ts(bot.created_at, "created_at")
        codec.check_ts(bot.updated_at, "updated_at")
        await self._insert(
            f"add bot {bot.name!r}",
            "bots",
            _COLUMNS,
            (
                bot.id,
                bot.name,
                bot.endpoint_id,
                bot.key_id,
                _topics_text(bot.topics),
                _timeout(bot.answer_timeout_s),
                int(bot.enabled),
                bot.created_at,
                bot.updated_at,
            ),
        )

    async def get_bot(self, bot_id: str) -> BotRecord | None:
        rows = await self._read(f"SELECT {_COLUMNS} FROM bots WHERE id = ?", (bot_id,))
        return _bot(rows[0]) if rows else None

    async def list_bots(self) -> list[BotRecord]:
        rows = await self._read(f"SELECT {_COLUMNS} FROM bots ORDER BY name, id")
        return [_bot(r) for r in rows]

    async def update_bot(self, bot_id: str, **fields: object) -> BotRecord:
        unknown = set(fields) - BOT_FIELDS
        if unknown:
            raise ValueError(f"bot fields that cannot change: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = dict(fields)
        if "topics" in changes:
            changes["topics"] = _topics_text(cast(Sequence[str], changes["topics"]))
        if "answer_timeout_s" in changes:
            changes["answer_timeout_s"] = _timeout(changes["answer_timeout_s"])
        if "enabled" in changes:
            changes["enabled"] = int(bool(changes["enabled"]))
        if "updated_at" in changes:
            codec.check_ts(cast(str, changes["updated_at"]), "updated_at")
        row = await self._update("change a bot", "bots", bot_id, changes, _COLUMNS)
        return _bot(row)

    async def delete_bot(self, bot_id: str) -> bool:
        async def work(tx: Tx) -> int:
            return await tx.execute("DELETE FROM bots WHERE id = ?", (bot_id,))

        return await self._transaction("delete a bot", work) > 0

    async def bot_figures(self) -> dict[str, BotFigures]:
        rows = await self._read(
            "SELECT bot_id,"
            " SUM(CASE WHEN handed_over_at IS NULL AND status <> 'closed' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN handed_over_at IS NULL AND status = 'closed' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN handed_over_at IS NOT NULL THEN 1 ELSE 0 END)"
            " FROM conversations WHERE bot_id IS NOT NULL GROUP BY bot_id"
        )
        return {r[0]: BotFigures(int(r[1]), int(r[2]), int(r[3])) for r in rows}
