"""`SQLPart`: the plumbing every shared part reads and writes through, as a backend supplies it.

`SQLiteBase` (``sqlite/connection.py``) and `PostgresBase` (``postgres/connection.py``)
implement its abstract methods (a class missing one cannot be instantiated); `_insert` and
`_update` are written once on top of them. The hooks (`_secure_delete`, `_after_delete`) are the steps only
one backend takes: they do nothing unless it overrides them.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar, Self, TypeVar

from ..base import NotFoundError, StoredEvent
from ..sqlite._batch import Item
from .dialect import Dialect, Params, Plan, Row, Tx

__all__ = ["SQLPart"]

T = TypeVar("T")


class SQLPart(ABC):
    """What the parts in ``sql/`` need of a backend's connection base."""

    dialect: ClassVar[Dialect]
    _accepting: bool

    @abstractmethod
    async def open(self) -> None:
        """Connect, apply pending migrations, start the writer (see `Transcripts.open`)."""

    @abstractmethod
    async def migrate(self) -> list[str]:
        """Apply the pending migrations under the lock `open` takes for them, without opening
        the store for use (``chatserver migrate``); returns the migrations applied, by name
        (``0001_initial`` …), none if the schema was up to date."""

    @abstractmethod
    async def close(self) -> None:
        """Commit what is queued, stop the writer, disconnect (see `Transcripts.close`)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- the plumbing a backend supplies ---------------------------------------------------

    @abstractmethod
    async def _read(self, sql: str, params: Params = ()) -> Sequence[Row]:
        """One read statement, outside any write transaction."""

    @abstractmethod
    async def _snapshot(self, plan: Plan[T]) -> T:
        """Run a `Plan`'s reads in one snapshot, out of the hub's way."""

    @abstractmethod
    async def _transaction(self, what: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own; it has committed when this returns
        (``what`` names it in errors)."""

    @abstractmethod
    def _submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        """Queue one group of events for the group-commit writer."""

    @contextlib.asynccontextmanager
    async def _secure_delete(self, tx: Tx) -> AsyncIterator[None]:
        """Around deleting a person's data: SQLite overwrites the freed pages."""
        yield

    async def _after_delete(self) -> None:  # noqa: B027 - a hook, empty unless overridden
        """After a person's data is deleted and committed: SQLite empties its WAL."""

    # --- written once ----------------------------------------------------------------------

    async def _insert(self, what: str, table: str, columns: str, row: tuple[Any, ...]) -> None:
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})"

        async def work(tx: Tx) -> None:
            await tx.execute(sql, row)

        await self._transaction(what, work)

    async def _update(
        self, what: str, table: str, key: str, changes: dict[str, Any], returning: str
    ) -> Row:
        """UPDATE one row by id and return it (`NotFoundError` if there is none)."""
        if changes:
            sets = ", ".join(f"{name} = ?" for name in changes)
            sql = f"UPDATE {table} SET {sets} WHERE id = ? RETURNING {returning}"
        else:
            sql = f"SELECT {returning} FROM {table} WHERE id = ?"
        params = [*changes.values(), key]

        async def work(tx: Tx) -> Row | None:
            return await tx.fetchone(sql, params)

        row = await self._transaction(what, work)
        if row is None:
            raise NotFoundError(f"{what}: unknown id {key!r}")
        return row
