"""`PostgresBase`: the connection pool, the migrations, the group-commit writer and the
read/write plumbing every part of `PostgresStore` goes through.

One pool of connections (psycopg 3, autocommit: a read is one statement, a write transaction
is ``async with conn.transaction()``). Appends go through the `GroupCommitWriter`
(``_writer.py``): everything queued meanwhile commits in one transaction on one connection.
Every other write is a transaction of its own on any pooled connection, and reads run on the
pool beside the writer — PostgreSQL has no single write lock to queue for.

A connection lost (the server restarted, the network cut) fails the calls using it with
`UnavailableError`; the pool drops it and connects again for the next call.

Every connection is set up with ``idle_in_transaction_session_timeout``
(``idle_transaction_timeout``, 5 s): a process frozen inside a transaction (SIGSTOP, a paused
VM) or cut off without a reset would otherwise keep the rows it locked — a batch's
conversations — for as long as PostgreSQL sees no EOF, and every other process's writer whose
batch names one of them would wait as long. Our transactions never idle between statements;
one that must (a server-side cursor fed to a slow reader) lifts it for itself with
``SET LOCAL idle_in_transaction_session_timeout = 0``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ..base import NotFoundError, UnavailableError, iso_now
from ._errors import redacted, store_error
from ._migrate import apply_migrations
from ._writer import GroupCommitWriter, WriterStats

__all__ = ["Conn", "PostgresBase"]

T = TypeVar("T")
Conn = AsyncConnection[TupleRow]


class PostgresBase:
    """Opening and closing the pool, the writer, and the plumbing of every part."""

    def __init__(
        self,
        url: str,
        *,
        min_connections: int = 1,
        max_connections: int = 10,
        max_batch: int = 1000,
        connect_timeout: float = 10.0,
        idle_transaction_timeout: float = 5.0,
    ) -> None:
        if not 1 <= min_connections <= max_connections:
            raise ValueError("need 1 <= min_connections <= max_connections")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if idle_transaction_timeout <= 0:
            raise ValueError("idle_transaction_timeout must be above 0")
        self.url = url
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.max_batch = max_batch
        self.connect_timeout = connect_timeout
        self.idle_transaction_timeout = idle_transaction_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._group: GroupCommitWriter | None = None
        self._accepting = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redacted(self.url)!r})"

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def stats(self) -> WriterStats:
        """Group-commit counters since `open` (batches committed, events stored)."""
        return self._group.stats if self._group is not None else WriterStats(0, 0)

    @property
    def database_path(self) -> Path:
        """`SnapshotSource`: analytics reads a SQLite file; there is none on PostgreSQL yet."""
        raise UnavailableError(
            "analytics on PostgreSQL is not available yet: exports, reports and the dashboard's"
            " charts read a SQLite snapshot (Store.database_path), and the PostgreSQL store has"
            " no read model for them in this version"
        )

    async def open(self) -> None:
        """Connect, apply pending migrations (under an advisory lock), start the writer."""
        if self._pool is not None:
            raise RuntimeError(f"this {type(self).__name__} is already open")
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            connection_class=AsyncConnection,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(self.connect_timeout))},
            min_size=self.min_connections,
            max_size=self.max_connections,
            timeout=self.connect_timeout,
            name="chatserver-store",
            configure=self._configure,
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
            async with pool.connection() as conn:
                await apply_migrations(conn, iso_now())
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg.Error):
                raise UnavailableError(
                    f"cannot open the PostgreSQL store {redacted(self.url)}: {exc}"
                ) from exc
            raise
        self._pool = pool
        self._group = GroupCommitWriter(pool, self.max_batch)
        self._accepting = True

    async def _configure(self, conn: Conn) -> None:
        """Each new connection: end a transaction left idle (see the module docstring)."""
        ms = str(max(1, round(self.idle_transaction_timeout * 1000)))
        await conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)", [ms]
        )

    async def close(self) -> None:
        """Commit everything queued, stop the writer, close the pool. Idempotent."""
        self._accepting = False
        if self._group is not None:
            await self._group.stop()
            self._group = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def flush(self) -> None:
        """Return once everything queued before this call is committed (or has failed)."""
        if self._group is not None:
            await self._group.flush()

    # --- plumbing ---------------------------------------------------------------------------

    def _open_pool(self) -> AsyncConnectionPool[Conn]:
        pool = self._pool
        if pool is None or not self._accepting:
            raise UnavailableError("the store is not open")
        return pool

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        pool = self._open_pool()
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall()
        except psycopg.Error as exc:
            raise store_error(exc, "read") from exc

    async def _transaction(self, what: str, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own; it commits before this returns,
        and a cancelled caller does not undo it (the transaction runs on, shielded)."""
        pool = self._open_pool()

        async def run() -> T:
            try:
                async with pool.connection() as conn, conn.transaction():
                    return await work(conn)
            except psycopg.Error as exc:
                raise store_error(exc, what) from exc

        return await asyncio.shield(asyncio.ensure_future(run()))

    async def _insert(self, what: str, table: str, columns: str, row: tuple[Any, ...]) -> None:
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(row))})"

        async def work(conn: Conn) -> None:
            await conn.execute(sql, row)

        await self._transaction(what, work)

    async def _update(
        self, what: str, table: str, key: str, changes: dict[str, Any], returning: str
    ) -> TupleRow:
        """UPDATE one row by id and return it (`NotFoundError` if there is none)."""
        if changes:
            sets = ", ".join(f"{name} = %s" for name in changes)
            sql = f"UPDATE {table} SET {sets} WHERE id = %s RETURNING {returning}"
        else:
            sql = f"SELECT {returning} FROM {table} WHERE id = %s"
        params = [*changes.values(), key]

        async def work(conn: Conn) -> TupleRow | None:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()

        row = await self._transaction(what, work)
        if row is None:
            raise NotFoundError(f"{what}: unknown id {key!r}")
        return row
