"""`SnapshotBase`: what both stores' read models (``sqlite/snapshot.py``,
``postgres/snapshot.py``) do the same way, over two primitives each supplies — `_lookup` (one
small query, ``?`` placeholders, its first row) and `_scan` (a scan's rows, streamed, in the
backend's own SQL from its `queries`) — so that only opening, the filters' SQL and the
texts differ between them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Self

from ._scan import message_owners, side_by_side
from .base import UnavailableError
from .rollups import RollupTodo, RollupUnit
from .snapshots import (
    AgentInfo,
    BadSelection,
    ConversationRow,
    Cursor,
    EventRow,
    FigureRow,
    Filters,
    MessageEvent,
    MessageOwner,
    RawConversation,
)

__all__ = ["SnapshotBase"]


class SnapshotBase(ABC):
    _cursor: Cursor
    #: The store as errors name it (a path, a URL without its password).
    _name: str
    #: One row, one column: the first hour that may not be built yet — the hour, by the
    #: database's clock, an hour ago, as ``2026-05-01T14`` (`chatserver.store.rollups`).
    _cutoff_sql: ClassVar[str]

    @abstractmethod
    def _lookup(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        """The first row of a small query written with ``?`` placeholders, or None."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        """Every row of a small query written with ``?`` placeholders."""

    @abstractmethod
    def _scan(self, sql: str, params: list[Any]) -> Iterator[Sequence[Any]]:
        """The rows of one of `queries`' scans (the backend's own SQL), streamed."""

    @abstractmethod
    def where(self, filters: Filters) -> tuple[str, list[Any]]: ...

    @abstractmethod
    def queries(self, filters: Filters) -> dict[str, tuple[str, list[Any]]]: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    def cursor(self) -> Cursor:
        return self._cursor

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- small look-ups -------------------------------------------------------------------

    def key(self, name: str) -> bytes:
        row = self._lookup("SELECT value FROM analytics_keys WHERE name = ?", (name,))
        if row is None:
            raise UnavailableError(f"{self._name}: no analytics key {name!r}")
        return bytes.fromhex(row[0])

    def agents(self) -> dict[str, AgentInfo]:
        rows = self._rows("SELECT id, username, display_name FROM agents ORDER BY id")
        return {row[0]: AgentInfo(*row) for row in rows}

    def resolve_agent(self, name: str) -> str:
        row = self._lookup(
            "SELECT id FROM agents WHERE username_key = ? OR id = ?", (name.casefold(), name)
        )
        if row is None:
            raise BadSelection(f"no agent {name!r}")
        return str(row[0])

    def count_closed_before(self, cutoff: str) -> int:
        row = self._lookup(
            "SELECT count(*) FROM conversations WHERE status = 'closed' AND closed_at < ?",
            (cutoff,),
        )
        return int(row[0]) if row is not None else 0

    # --- filtered scans ---------------------------------------------------------------------

    def check(self, filters: Filters) -> None:
        self.where(filters)

    def count(self, filters: Filters) -> int:
        where, params = self.where(filters)
        (row,) = self._scan(f"SELECT count(*) FROM conversations c{where}", params)
        return int(row[0])

    def conversations(self, filters: Filters) -> Iterator[RawConversation]:
        sql = self.queries(filters)
        conversations = self._scan(*sql["conversations"])
        # Rows stay plain tuples (typed as EventRow, which has the same shape): building a
        # named tuple per event would cost more than fetching it.
        events: Iterator[EventRow] = self._scan(*sql["events"])  # type: ignore[assignment]
        make = ConversationRow._make
        for raw, own in side_by_side(conversations, events):
            yield RawConversation(make(raw), own)

    def message_scan(self, filters: Filters) -> Iterator[tuple[MessageOwner, list[MessageEvent]]]:
        sql = self.queries(filters)
        conversations = self._scan(*sql["message_conversations"])
        messages: Iterator[MessageEvent] = self._scan(*sql["messages"])  # type: ignore[assignment]
        return message_owners(conversations, messages)

    def figure_rows(self, filters: Filters) -> Iterator[FigureRow]:
        for raw in self._scan(*self.queries(filters)["figures"]):
            yield FigureRow._make(raw)

    # --- rollups (chatserver.store.rollups) -------------------------------------------------

    def rollup_periods(self, first: str | None, end: str | None, *, hours: bool) -> list[str]:
        sql = (
            "SELECT b.period FROM rollup_built b WHERE length(b.period) = ? AND NOT EXISTS"
            " (SELECT 1 FROM rollup_marks m WHERE m.hour >= b.period"
            " AND m.hour < b.period || '~')"
        )
        params: list[Any] = [13 if hours else 10]
        if first is not None:
            sql += " AND b.period >= ?"
            params.append(first)
        if end is not None:
            sql += " AND b.period < ?"
            params.append(end)
        return [str(row[0]) for row in self._rows(sql + " ORDER BY b.period", params)]

    def rollup_cells(
        self, first: str, end: str, topic: str, *, hours: bool
    ) -> list[tuple[str, str, str]]:
        rows = self._rows(
            "SELECT period, agent, cell FROM figure_rollups WHERE kind = ? AND topic = ?"
            " AND period >= ? AND period < ? ORDER BY period, agent",
            ("hour" if hours else "day", topic, first, end),
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def rollup_topic_cells(
        self, first: str, end: str, *, hours: bool
    ) -> list[tuple[str, str, str]]:
        rows = self._rows(
            "SELECT period, topic, cell FROM figure_rollups WHERE kind = ? AND topic > ''"
            " AND period >= ? AND period < ? AND agent = '' ORDER BY period, topic",
            ("hour" if hours else "day", first, end),
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def rollup_todo(self) -> RollupTodo:
        cutoff_row = self._lookup(self._cutoff_sql)
        assert cutoff_row is not None
        cutoff = str(cutoff_row[0])  # an hour: 2026-05-01T14
        cutoff_day = cutoff[:10]

        def unit_of(hour: str) -> str:
            return hour[:10] if hour[:10] < cutoff_day else hour

        marks: dict[str, list[int]] = {}
        for row in self._rows(
            "SELECT hour, id FROM rollup_marks WHERE hour < ? ORDER BY id", (cutoff,)
        ):
            marks.setdefault(unit_of(str(row[0])), []).append(int(row[1]))
        built = {
            str(row[0])
            for row in self._rows("SELECT period FROM rollup_built WHERE period < ?", (cutoff,))
        }
        wanted = set(marks)
        first = self._lookup("SELECT min(created_at) FROM conversations")
        if first is not None and first[0] is not None:
            first_hour = str(first[0])[:13]
            day = date.fromisoformat(first_hour[:10])
            while day.isoformat() < cutoff_day:  # whole days before the cutoff's
                if day.isoformat() not in built:
                    wanted.add(day.isoformat())
                day += timedelta(days=1)
            hour = datetime.fromisoformat(max(first_hour, cutoff_day + "T00") + ":00:00+00:00")
            while (key := hour.strftime("%Y-%m-%dT%H")) < cutoff:  # that day's hours
                if key not in built:
                    wanted.add(key)
                hour += timedelta(hours=1)
        units = [RollupUnit(unit, tuple(marks.get(unit, ()))) for unit in sorted(wanted)]
        return RollupTodo(cutoff, units)
