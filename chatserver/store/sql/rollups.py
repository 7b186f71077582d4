"""The rollups' write side (`Rollups`), on either backend.

One transaction replaces a day's cells, records the day built and clears its mark if the mark
is still the version the builder read. On PostgreSQL (READ COMMITTED) a writer that changes
the day meanwhile holds the mark's row lock; the DELETE waits for it, then re-checks
``version`` on the row it committed and deletes nothing — the day stays marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..rollups import RollupCell
from . import _codec as codec
from .dialect import Tx
from .part import SQLPart

__all__ = ["RollupsPart"]


class RollupsPart(SQLPart):
    async def put_rollup_day(
        self, day: str, version: int | None, cells: Sequence[RollupCell], *, ts: str
    ) -> bool:
        codec.check_ts(ts)
        _check_day(day)

        async def work(tx: Tx) -> bool:
            await tx.execute("DELETE FROM figure_rollups WHERE day = ?", (day,))
            for cell in cells:
                await tx.execute(
                    "INSERT INTO figure_rollups (day, topic, agent, cell) VALUES (?, ?, ?, ?)",
                    (day, cell.topic, cell.agent, cell.cell),
                )
            await tx.execute(
                "INSERT INTO rollup_days (day, built_at) VALUES (?, ?)"
                " ON CONFLICT (day) DO UPDATE SET built_at = excluded.built_at",
                (day, ts),
            )
            if version is not None:
                await tx.execute(
                    "DELETE FROM rollup_dirty WHERE day = ? AND version = ?", (day, version)
                )
            marked = await tx.fetchone("SELECT 1 FROM rollup_dirty WHERE day = ?", (day,))
            return marked is None

        return await self._transaction("store a day's rollups", work)


def _check_day(day: str) -> None:
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"day {day!r} is not a date (2026-05-01)") from None
    if len(day) != 10:
        raise ValueError(f"day {day!r} is not a date (2026-05-01)")
