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
from collections.abc import Awaitable, Callable
from typing import ClassVar, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ..base import StoredEvent, UnavailableError, iso_now
from ..sql import Dialect, Params, Plan, SQLPart, Tx
from ..sqlite._batch import Item
from ._errors import redacted, store_error
from ._migrate import apply_migrations
from ._writer import GroupCommitWriter, WriterStats
from .snapshot import PostgresSnapshot

__all__ = ["POSTGRESQL", "Conn", "PostgresBase"]

T = TypeVar("T")
Conn = AsyncConnection[TupleRow]

#: PostgreSQL's spelling of the phrases the shared parts leave to the backend (see `Dialect`).
POSTGRESQL = Dialect(
    in_list="{column} = ANY(?::text[])",
    list_param=list,  # psycopg sends a list as an array
    elements="jsonb_array_elements_text({column}::jsonb) AS t (value)",
    json_field="{column}::jsonb ->> '{key}'",
    by_code_point=' COLLATE "C"',
    for_update=" FOR UPDATE",
)


class PostgresBase(SQLPart):
    """Opening and closing the pool, the writer, and the plumbing of every part (``sql/``).

    The parts' SQL is written with ``?``; `_read`, `_snapshot` and the `Tx` of `_transaction`
    turn each ``?`` into psycopg's ``%s`` (the parts' SQL has no ``?`` of its own)."""

    dialect: ClassVar[Dialect] = POSTGRESQL

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
        #: `ping`'s own connection, outside the pool: a pool busy with a burst is not a down
        #: database (made at the first ping, dropped when it fails).
        self._ping_conn: Conn | None = None
        self._ping_lock = asyncio.Lock()
        self._group: GroupCommitWriter | None = None
        self._accepting = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redacted(self.url)!r})"

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def stats(self) -> WriterStats:
        """Group-commit counters since `open` (batches committed, events stored)."""
        return self._group.stats if self._group is not None else WriterStats(0, 0)

    def snapshot(self) -> PostgresSnapshot:
        """A read-only snapshot on a connection of its own (`SnapshotSource`, ``snapshot.py``)."""
        return PostgresSnapshot(self.url, connect_timeout=self.connect_timeout)

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
                raise self._cannot_open(exc) from exc
            raise
        self._pool = pool
        self._group = GroupCommitWriter(pool, self.max_batch)
        self._accepting = True

    async def migrate(self) -> list[str]:
        try:
            conn = await AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout))
            )
            async with conn:
                return await apply_migrations(conn, iso_now())  # under the advisory lock
        except psycopg.Error as exc:
            raise self._cannot_open(exc) from exc

    def _cannot_open(self, exc: psycopg.Error) -> UnavailableError:
        return UnavailableError(f"cannot open the PostgreSQL store {redacted(self.url)}: {exc}")

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
        if self._ping_conn is not None:
            await self._ping_conn.close()
            self._ping_conn = None

    async def ping(self) -> None:
        """``SELECT 1`` on a connection of its own (see `_ping_conn`), one ping at a time."""
        self._open_pool()  # not open: UnavailableError
        async with self._ping_lock:
            try:
                if self._ping_conn is None or self._ping_conn.closed:
                    self._ping_conn = await AsyncConnection.connect(
                        self.url,
                        autocommit=True,
                        connect_timeout=max(1, round(self.connect_timeout)),
                    )
                await self._ping_conn.execute("SELECT 1")
            except psycopg.Error as exc:
                broken, self._ping_conn = self._ping_conn, None
                if broken is not None:
                    await broken.close()
                raise store_error(exc, "ping") from exc

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

    async def _read(self, sql: str, params: Params = ()) -> list[TupleRow]:
        pool = self._open_pool()
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(_sql(sql), params)
                return await cursor.fetchall()
        except psycopg.Error as exc:
            raise store_error(exc, "read") from exc

    async def _snapshot(self, plan: Plan[T]) -> T:
        """The reads in one ``REPEATABLE READ READ ONLY`` transaction on a pooled connection:
        one snapshot for all, and PostgreSQL's readers never wait for its writers nor hold
        them up, so a read that scans a large store is out of the hub's way."""
        pool = self._open_pool()
        try:
            async with pool.connection() as conn:
                await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    sql, params = next(plan)
                    while True:
                        cursor = await conn.execute(_sql(sql), params)
                        sql, params = plan.send(await cursor.fetchall())
                except StopIteration as done:
                    result: T = done.value
                    return result
                finally:
                    await conn.execute("ROLLBACK")
        except psycopg.Error as exc:
            raise store_error(exc, "read") from exc

    async def _transaction(self, what: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own; it commits before this returns,
        and a cancelled caller does not undo it (the transaction runs on, shielded)."""
        pool = self._open_pool()

        async def run() -> T:
            try:
                async with pool.connection() as conn, conn.transaction():
                    return await work(_Tx(conn))
            except psycopg.Error as exc:
                raise store_error(exc, what) from exc

        return await asyncio.shield(asyncio.ensure_future(run()))

    def _submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        if self._group is None or not self._accepting:
            raise UnavailableError("the store is not open")
        return self._group.submit(items)


def _sql(sql: str) -> str:
    """The shared parts' SQL with psycopg's placeholders (``?`` → ``%s``)."""
    return sql.replace("?", "%s")


class _Tx:
    """`Tx` on a pooled connection inside ``conn.transaction()``."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[TupleRow]:
        cursor = await self._conn.execute(_sql(sql), params)
        return await cursor.fetchall()

    async def fetchone(self, sql: str, params: Params = ()) -> TupleRow | None:
        cursor = await self._conn.execute(_sql(sql), params)
        return await cursor.fetchone()

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(_sql(sql), params)
        return max(cursor.rowcount, 0)
