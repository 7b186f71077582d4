"""`SQLiteStore`: the transcript store on one SQLite file, shared by the hub's processes.

Four connections per store: two that write, one at a time (in WAL mode SQLite lets one
writer at a time across all processes; ``BEGIN IMMEDIATE`` takes that lock up front and
``busy_timeout`` waits for it) — a plain ``sqlite3`` one on the group-commit thread for the
batches of events and an aiosqlite one for every other write transaction — an aiosqlite
*reader* that never sees a transaction in flight, and one that checkpoints the WAL in the
background so that no commit waits for a checkpoint (see ``_checkpoint.py``;
``checkpoint_interval=None`` leaves checkpoints to the commits, as SQLite does by itself).
Every write goes through the `GroupCommitWriter` (see ``_writer.py``): appends are committed
in groups, one transaction per batch, and every other write transaction waits its turn in the
same queue, so the two writing connections never wait for each other.

``synchronous="NORMAL"`` (WAL): a commit survives the process being killed at any moment; the
last commits may be lost if the machine itself loses power. ``"FULL"`` also syncs the WAL on
every commit, so a commit survives power loss too, at the cost of one fsync per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

import aiosqlite

from .._migrate import apply_migrations
from ..base import StoredEvent, UnavailableError, iso_now
from ..sql import Dialect, Params, Plan, SQLPart, Tx
from ..sql import _codec as codec
from ._batch import Item
from ._checkpoint import Checkpointer, CheckpointStats
from ._turnstile import Turnstile, open_turnstile
from ._writer import GroupCommitWriter, WriterStats, store_error
from .snapshot import SQLiteSnapshot

__all__ = ["SQLITE", "Conn", "SQLiteBase"]

T = TypeVar("T")
Conn = aiosqlite.Connection

#: SQLite's spelling of the phrases the shared parts leave to the backend (see `Dialect`).
SQLITE = Dialect(
    in_list="{column} IN (SELECT value FROM json_each(?))",
    list_param=codec.dumps,  # a JSON text
    elements="json_each({column}) AS t",
    json_field="json_extract({column}, '$.{key}')",
    by_code_point="",
    for_update="",  # write transactions run one at a time: nothing to lock
)


class SQLiteBase(SQLPart):
    """Opening and closing the connections, the group-commit writer, and the plumbing every
    part of `SQLiteStore` (``sql/``) writes and reads through."""

    dialect: ClassVar[Dialect] = SQLITE

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        max_batch: int = 1000,
        busy_timeout: float = 10.0,
        checkpoint_interval: float | None = 0.2,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous is 'NORMAL' or 'FULL'")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if checkpoint_interval is not None and not checkpoint_interval > 0:
            raise ValueError("checkpoint_interval is a number of seconds above 0, or None")
        self.path = Path(path)
        self.synchronous = synchronous
        self.max_batch = max_batch
        self.busy_timeout = busy_timeout
        self.checkpoint_interval = checkpoint_interval
        self._writer: Conn | None = None
        self._reader: Conn | None = None
        self._group: GroupCommitWriter | None = None
        self._checkpointer: Checkpointer | None = None
        self._turnstile: Turnstile | None = None
        self._accepting = False

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def stats(self) -> WriterStats:
        """Group-commit counters since `open` (batches committed, events stored)."""
        return self._group.stats if self._group is not None else WriterStats(0, 0)

    def snapshot(self) -> SQLiteSnapshot:
        """A read-only snapshot of the database file (`SnapshotSource`, ``snapshot.py``)."""
        return SQLiteSnapshot(self.path, busy_timeout=self.busy_timeout)

    @property
    def checkpoints(self) -> CheckpointStats:
        """Background WAL checkpoints since `open` (see ``_checkpoint.py``)."""
        c = self._checkpointer
        return c.stats if c is not None else CheckpointStats(0, 0, 0)

    async def open(self) -> None:
        """Connect, set WAL and the pragmas, apply pending migrations, start the writer."""
        if self._writer is not None:
            raise RuntimeError(f"this {type(self).__name__} is already open")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        opened = [await self._connect()]
        try:
            writer = opened[0]
            await self._set_wal(writer)
            await apply_migrations(writer, iso_now())
            opened.append(reader := await self._connect())
            checkpoints = None
            if self.checkpoint_interval:
                opened.append(checkpoints := await self._connect())
            batches = await asyncio.to_thread(self._connect_sync)
        except BaseException:
            for conn in opened:
                await conn.close()
            raise
        await reader.execute("PRAGMA query_only = ON")
        self._writer, self._reader = writer, reader
        self._turnstile = open_turnstile(self.path)
        group = self._group = GroupCommitWriter(writer, batches, self.max_batch, self._turnstile)
        if checkpoints is not None and self.checkpoint_interval:
            self._checkpointer = Checkpointer(
                checkpoints,
                self.checkpoint_interval,
                lambda: group.stats.batches + group.stats.jobs,
            )
        self._accepting = True

    async def migrate(self) -> list[str]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = await self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise UnavailableError(f"cannot open the SQLite store {self.path}: {exc}") from exc
        try:
            await self._set_wal(conn)
            return await apply_migrations(conn, iso_now())  # BEGIN IMMEDIATE: the write lock
        except sqlite3.Error as exc:
            raise UnavailableError(f"cannot migrate the SQLite store {self.path}: {exc}") from exc
        finally:
            await conn.close()

    def _pragmas(self) -> list[str]:
        return [
            f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}",
            "PRAGMA foreign_keys = ON",
            f"PRAGMA synchronous = {self.synchronous}",
            "PRAGMA cache_size = -32000",
            "PRAGMA temp_store = MEMORY",
            # The writer checkpoints by itself only past ~40 MB of log (10,000 pages): the
            # checkpoints run in the background (_checkpoint.py); this is the backstop.
            "PRAGMA wal_autocheckpoint = 10000",
            "PRAGMA journal_size_limit = 67108864",
        ]

    async def _connect(self) -> Conn:
        conn = await aiosqlite.connect(
            self.path, isolation_level=None, timeout=self.busy_timeout, cached_statements=256
        )
        try:
            for pragma in self._pragmas():
                await conn.execute(pragma)
        except BaseException:
            await conn.close()
            raise
        return conn

    def _connect_sync(self) -> sqlite3.Connection:
        """A plain sqlite3 connection with the same settings, for the group-commit thread."""
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=self.busy_timeout,
            cached_statements=256,
            check_same_thread=False,  # opened here, used only by the writer's own thread
        )
        try:
            for pragma in self._pragmas():
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _set_wal(self, conn: Conn) -> None:
        # Switching a fresh file to WAL needs a moment alone with it: another process doing
        # the same at once may make this fail with "locked" despite busy_timeout; try again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_timeout
        while True:
            try:
                rows = await conn.execute_fetchall("PRAGMA journal_mode = WAL")
                mode = str(next(iter(rows))[0]).lower()
                if mode == "wal":
                    return
                raise UnavailableError(f"{self.path}: cannot use WAL (journal_mode is {mode})")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or loop.time() > deadline:
                    raise UnavailableError(f"{self.path}: {exc}") from exc
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Commit everything queued, stop the writer and close the connections. Idempotent."""
        self._accepting = False
        if self._group is not None:
            await self._group.stop()  # drains the queue, then returns
            self._group = None
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None
        if self._turnstile is not None:
            self._turnstile.close()
            self._turnstile = None

    async def flush(self) -> None:
        """Return once everything queued before this call is committed (or has failed)."""
        if self._group is not None:
            await self._group.flush()

    # --- the plumbing of the shared parts (`SQLPart`) ----------------------------------------

    async def ping(self) -> None:
        """The reader answers (WAL: never behind the writer)."""
        await self._read("SELECT 1")

    async def _read(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        conn = self._reader
        if conn is None or not self._accepting:
            raise UnavailableError("the store is not open")
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise store_error(exc, "read") from exc

    async def _snapshot(self, plan: Plan[T]) -> T:
        """The reads on a ``query_only`` connection of their own, in one read transaction,
        opened in a worker thread for the call: a read that scans a large store runs beside
        the hub's reader and writer, never in their way."""
        if self._reader is None or not self._accepting:
            raise UnavailableError("the store is not open")
        return await asyncio.to_thread(self._run_plan, plan)

    def _run_plan(self, plan: Plan[T]) -> T:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")  # one snapshot for every read
            try:
                sql, params = next(plan)
                while True:
                    sql, params = plan.send(conn.execute(sql, params).fetchall())
            except StopIteration as done:
                result: T = done.value
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise store_error(exc, "read") from exc
        finally:
            conn.close()
        return result

    async def _transaction(self, what: str, work: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own, queued with the appends."""
        if self._group is None or not self._accepting:
            raise UnavailableError("the store is not open")
        return await self._group.transaction(what, lambda conn: work(_Tx(conn)))

    def _submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        if self._group is None:
            raise UnavailableError("the store is not open")
        return self._group.submit(items)

    @contextlib.asynccontextmanager
    async def _secure_delete(self, tx: Tx) -> AsyncIterator[None]:
        """Overwrite the pages a person's data is deleted from (``PRAGMA secure_delete``)."""
        await tx.execute("PRAGMA secure_delete = ON")
        try:
            yield
        finally:
            await tx.execute("PRAGMA secure_delete = OFF")

    async def _after_delete(self) -> None:
        """Copy the WAL into the database and empty it, so deleted text leaves the WAL too
        (best effort: a reader still inside an old snapshot keeps its frames until it ends)."""
        conn = self._writer
        if conn is None:
            return
        try:
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass


class _Tx:
    """`Tx` on the aiosqlite writer connection, inside the group-commit writer's job."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = list(await self._conn.execute_fetchall(sql, params))
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        return max(cursor.rowcount, 0)
