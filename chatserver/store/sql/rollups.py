"""The rollups' write side (`Rollups`), on either backend.

One transaction reads the unit's marks (locking them on PostgreSQL) and, only if they are the
ones the builder's snapshot saw, replaces the cells of the unit's period (a day's hours too),
records the periods built and deletes exactly those marks. A mark added meanwhile by another
transaction is a new row: uncommitted, it is not read, not deleted, and the unit stays marked
once it commits; committed, it is read and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..rollups import RollupCell, RollupUnit
from . import _codec as codec
from .dialect import Tx
from .part import SQLPart

__all__ = ["RollupsPart"]

#: After every period that starts with a given one (``2026-05-01`` → its hours too).
_AFTER = "~"


class RollupsPart(SQLPart):
    async def put_rollup(
        self, unit: RollupUnit, cells: Sequence[RollupCell], built: Sequence[str], *, ts: str
    ) -> bool:
        codec.check_ts(ts)
        first, end = unit.period, unit.period + _AFTER
        for cell in cells:
            if not first <= cell.period < end:
                raise ValueError(f"cell of {cell.period!r} outside the unit {unit.period!r}")
        d = self.dialect
        seen = set(unit.marks)

        async def work(tx: Tx) -> bool:
            rows = await tx.fetchall(
                f"SELECT id FROM rollup_marks WHERE hour >= ? AND hour < ?{d.for_update}",
                (first, end),
            )
            if {int(row[0]) for row in rows} - seen:
                return False  # changed since the builder's snapshot
            await tx.execute(
                "DELETE FROM figure_rollups WHERE period >= ? AND period < ?", (first, end)
            )
            for cell in cells:
                kind = "day" if len(cell.period) == 10 else "hour"
                # An upsert: another process building the same unit at once (hubs see the same
                # work) may have written this cell since the DELETE above; the later one wins.
                await tx.execute(
                    "INSERT INTO figure_rollups (kind, topic, period, agent, cell)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, topic, period, agent)"
                    " DO UPDATE SET cell = excluded.cell",
                    (kind, cell.topic, cell.period, cell.agent, cell.cell),
                )
            for period in built:
                await tx.execute(
                    "INSERT INTO rollup_built (period, built_at) VALUES (?, ?)"
                    " ON CONFLICT (period) DO UPDATE SET built_at = excluded.built_at",
                    (period, ts),
                )
            if unit.marks:  # by primary key, from a JSON list of the ids (tens of thousands
                # after a bulk load): a look-up per id, not a comparison per row and id
                await tx.execute(
                    "DELETE FROM rollup_marks WHERE id IN"
                    f" (SELECT CAST(t.value AS BIGINT) FROM {d.elements_of('?')})",
                    (codec.dumps(sorted(unit.marks)),),
                )
            return True

        return await self._transaction("store rollups", work)
