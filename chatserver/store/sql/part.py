"""`SQLPart`: the plumbing every shared part reads and writes through, as a backend supplies it.

`SQLiteBase` (``sqlite/connection.py``) and `PostgresBase` (``postgres/connection.py``)
implement the methods that raise `NotImplementedError` here; `_insert` and `_update` are
written once on top of them. The hooks (`_secure_delete`, `_after_delete`) are the steps only
one backend takes: they do nothing unless it overrides them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar, Self, TypeVar

from ..base import NotFoundError, StoredEvent
from ..sqlite._batch import Item
from .dialect import Dialect, Params, Plan, Row, Tx

__all__ = ["SQLPart"]

T = TypeVar("T")


class SQLPart:
    """What the parts in ``sql/`` need of a backend's connection base."""

    dialect: ClassVar[Dialect]
    _accepting: bool

    async def open(self) -> None:
        raise NotImplementedError

    async def migrate(self) -> list[str]:
        """Apply the pending migrations under the lock `open` takes for them, without opening
        the store for use (``chatserver migrate``); returns the migrations applied, by name
        (``0001_initial`` …), none if the schema was up to date."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- the plumbing a backend supplies ---------------------------------------------------

    async def _read(self, sql: str, params: Params = ()) -> Sequence[Row]:
        """One read statement, outside any write transaction."""
        raise NotImplementedError

    async def _snapshot(self, plan: Plan[T]) -> T:
        """Run a `Plan`'s reads in one snapshot, out of the hub's way."""
        raise NotImplementedError

    async def _transaction(self, what: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own; it has committed when this returns
        (``what`` names it in errors)."""
        raise NotImplementedError

    def _submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        """Queue one group of events for the group-commit writer."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _secure_delete(self, tx: Tx) -> AsyncIterator[None]:
        """Around deleting a person's data: SQLite overwrites the freed pages."""
        yield

    async def _after_delete(self) -> None:
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
