"""What the shared parts need of a backend: its dialect and a uniform way to run SQL.

The parts (``sql/*.py``) write their SQL once, with ``?`` placeholders and no backend's
functions; a backend supplies:

- a `Dialect`: the few phrases its SQL spells differently — list membership, a JSON array's
  elements, a JSON field, a text order by code point, a row lock;
- a `Tx` for each write transaction: ``fetchall``/``fetchone``/``execute`` over its driver
  (aiosqlite's ``execute_fetchall`` or psycopg's cursors), placeholders converted;
- a `Plan` runner (`SQLPart._snapshot`) that reads several queries in one snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

__all__ = ["Dialect", "Params", "Plan", "Row", "Tx"]

T = TypeVar("T")

#: One row as a driver returns it: ``sqlite3.Row`` or psycopg's tuple.
Row = Sequence[Any]
Params = Sequence[Any]

#: A read of several queries in one snapshot, sans I/O: it yields ``(sql, params)`` and is sent
#: back the rows, until it returns its result; the backend runs the queries (see ``dashboard``).
Plan = Generator[tuple[str, Params], Sequence[Row], T]


@dataclass(frozen=True, slots=True)
class Dialect:
    """The phrases one backend's SQL spells its own way. ``{column}`` stands for a column or an
    expression; every parameter is written ``?``."""

    #: ``column`` is one of a list given as ONE parameter (`list_param`).
    in_list: str
    #: The list parameter of `in_list` (a JSON text, or the list itself).
    list_param: Callable[[list[str]], Any]
    #: The elements of the JSON array of text in ``column``, as a table ``t`` of one text
    #: column ``value``.
    elements: str
    #: The text of the field ``key`` of the JSON object in ``column``.
    json_field: str
    #: After ``ORDER BY <text>``: compare text by code point (SQLite's ``BINARY``).
    by_code_point: str
    #: After a SELECT in a write transaction: lock the rows it reads until the commit.
    for_update: str

    def member_of(self, column: str) -> str:
        return self.in_list.format(column=column)

    def elements_of(self, column: str) -> str:
        return self.elements.format(column=column)

    def field_of(self, column: str, key: str) -> str:
        return self.json_field.format(column=column, key=key)


class Tx(Protocol):
    """A write transaction in progress (the SQL as the parts write it, ``?`` placeholders)."""

    async def fetchall(self, sql: str, params: Params = ()) -> Sequence[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the rows it changed (0 if the driver cannot tell)."""
        ...
