"""`SnapshotBase`: what both stores' read models (``sqlite/snapshot.py``,
``postgres/snapshot.py``) do the same way, over two primitives each supplies — `_lookup` (one
small query, ``?`` placeholders, its first row) and `_scan` (a scan's rows, streamed, in the
backend's own SQL from its `queries`) — so that only opening, the filters' SQL and the
texts differ between them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any, ClassVar, Self

from ._scan import message_owners, side_by_side
from .base import UnavailableError
from .rollups import RollupTodo
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
    #: One row, one column: the first day that may not be built yet — the date, by the
    #: database's clock, an hour ago (`chatserver.store.rollups`).
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

    def rollup_days(self, first: str | None, end: str | None) -> list[str]:
        sql = (
            "SELECT d.day FROM rollup_days d WHERE NOT EXISTS"
            " (SELECT 1 FROM rollup_dirty m WHERE m.day = d.day)"
        )
        params: list[str] = []
        if first is not None:
            sql += " AND d.day >= ?"
            params.append(first)
        if end is not None:
            sql += " AND d.day < ?"
            params.append(end)
        return [str(row[0]) for row in self._rows(sql + " ORDER BY d.day", params)]

    def rollup_cells(self, first: str, end: str, topic: str) -> list[tuple[str, str, str]]:
        rows = self._rows(
            "SELECT day, agent, cell FROM figure_rollups WHERE day >= ? AND day < ?"
            " AND topic = ? ORDER BY day, agent",
            (first, end, topic),
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def rollup_topic_cells(self, first: str, end: str) -> list[tuple[str, str, str]]:
        rows = self._rows(
            "SELECT day, topic, cell FROM figure_rollups WHERE day >= ? AND day < ?"
            " AND topic <> '' AND agent = '' ORDER BY day, topic",
            (first, end),
        )
        return [(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def rollup_todo(self) -> RollupTodo:
        cutoff_row = self._lookup(self._cutoff_sql)
        assert cutoff_row is not None
        cutoff = str(cutoff_row[0])
        marked = {
            str(row[0]): int(row[1])
            for row in self._rows("SELECT day, version FROM rollup_dirty WHERE day < ?", (cutoff,))
        }
        built = {str(row[0]) for row in self._rows("SELECT day FROM rollup_days")}
        first = self._lookup("SELECT min(created_at) FROM conversations")
        todo: dict[str, int | None] = dict(marked)
        if first is not None and first[0] is not None:
            day = date.fromisoformat(str(first[0])[:10])
            last = date.fromisoformat(cutoff)
            while day < last:
                key = day.isoformat()
                if key not in built and key not in todo:
                    todo[key] = None
                day += timedelta(days=1)
        return RollupTodo(cutoff, sorted(todo.items()))
