"""The rollups' write side (`Rollups`), on either backend.

One transaction reads the day's mark (locking it on PostgreSQL) and, only if it is still the
version the builder read (or there is none, as the builder saw), replaces the day's cells,
records the day built and clears the mark. On PostgreSQL (READ COMMITTED) a writer that
changes the day meanwhile holds the mark's row lock: the read waits for it and then sees the
version it committed, and nothing is written — the day stays marked, its cells as they were
(or gone, after a deletion).
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
            mark = await tx.fetchone(
                f"SELECT version FROM rollup_dirty WHERE day = ?{self.dialect.for_update}", (day,)
            )
            if (None if mark is None else int(mark[0])) != version:
                return False  # changed since the builder's snapshot
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
            await tx.execute("DELETE FROM rollup_dirty WHERE day = ?", (day,))
            return True

        return await self._transaction("store a day's rollups", work)


def _check_day(day: str) -> None:
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"day {day!r} is not a date (2026-05-01)") from None
    if len(day) != 10:
        raise ValueError(f"day {day!r} is not a date (2026-05-01)")
