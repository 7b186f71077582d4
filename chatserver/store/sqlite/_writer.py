"""The group-commit writer: the one task that writes to a SQLite store.

Everything that writes goes through one FIFO queue, so transactions never interleave:
*groups* of events (one `append` or `append_many` each) and *jobs* (any other write
transaction, or a flush marker). The writer task takes every group queued up to ``max_batch``
events and commits them in ONE transaction, in two calls on a thread of its own that owns a
plain ``sqlite3`` connection (jobs run on the store's aiosqlite writer connection, in queue
order, never at the same time as a batch):

1. on the thread: ``BEGIN IMMEDIATE`` (takes the database's write lock; ``busy_timeout``
   waits for it, and the `Turnstile` makes the processes sharing the file take turns at it)
   and two reads — the batch's ``last_seq``s and facts, and its already stored client_ids — each
   answering one JSON value, so SQLite walks the batch without coming back to Python per row;
2. on the event loop: `BatchPlanner` assigns seqs and spots duplicates;
3. on the thread: the event rows (multi-row INSERTs, see `insert_statements`), the
   conversations' updates — every ``last_seq`` in ONE statement reading a JSON object (see
   `update_statements`), the facts that changed, the agents assigned and tags set
   (`entry_statements`) — and ``COMMIT``;
4. only then each caller's future is resolved.

Two thread hand-offs a batch, where an aiosqlite call each for BEGIN, the reads, the writes
and the COMMIT took six: at a few thousand chat messages a second batches are small, and the
hand-offs (a futex wake and a self-pipe write each way) were a good part of the hub's CPU.

No timer: the next batch is whatever piled up meanwhile. While one batch is written and
committed on the thread (SQLite runs without the GIL), the writer wakes the callers of the
batch committed before it, lets them queue their next events, and sends the next batch's BEGIN
and reads to the thread behind the COMMIT. A caller is never told before its own commit has
returned; it may be told one batch later, never earlier.

If a statement breaks a constraint (an ``update`` naming an unknown agent, say), the batch is
rolled back — and so is the batch started behind it, whose groups go back to the head of the
queue — and replayed group by group under savepoints, and only the offending group fails.
Any other failure (locked past ``busy_timeout``, I/O) fails the batch's groups with
`UnavailableError` and the writer goes on with the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite
import orjson

from ..base import ConflictError, NotFoundError, StoredEvent, UnavailableError
from ..sql import _codec as codec
from ._batch import (
    INSERT_EVENT,
    BatchPlanner,
    Entries,
    EventRow,
    Item,
    Outcome,
    Pending,
    entry_statements,
    insert_statements,
    settle,
    take_groups,
    update_statements,
)
from ._turnstile import Turnstile

__all__ = ["GroupCommitWriter", "WriterStats", "store_error"]

T = TypeVar("T")
Conn = aiosqlite.Connection

_LAST_SEQS = (
    "SELECT json_group_object(id, json_array(last_seq, first_assigned_at, first_response_at,"
    " transfers)) FROM conversations"
    " WHERE id IN (SELECT value FROM json_each(?))"
)
_BY_CLIENT_ID = (
    "SELECT json_group_array(json_array(e.conversation_id, e.seq, e.ts, e.kind, e.actor_role,"
    " e.actor_id, e.actor_name, e.client_id, e.body)) FROM json_each(?) AS j JOIN events AS e"
    " ON e.conversation_id = json_extract(j.value, '$[0]')"
    " AND e.client_id = json_extract(j.value, '$[1]')"
)


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Group-commit counters since the writer started: batches run, events acknowledged
    (duplicates included) — ``batch_mean`` is how many events one transaction carried — and
    other write transactions run."""

    batches: int
    events: int
    jobs: int = 0

    @property
    def batch_mean(self) -> float:
        return self.events / self.batches if self.batches else 0.0


def store_error(exc: sqlite3.Error, what: str) -> Exception:
    """A sqlite3 error as the store's own: constraint → conflict/not_found, I/O → unavailable."""
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in message or "PRIMARY KEY" in message:
            return ConflictError(f"{what}: already exists ({message})")
        if "FOREIGN KEY" in message:
            return NotFoundError(f"{what}: refers to an unknown record ({message})")
        return ValueError(f"{what}: {message}")
    if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return exc
    return UnavailableError(f"{what}: {message}")


class _Job:
    """A write transaction of its own (``work`` is None for a flush marker)."""

    __slots__ = ("future", "what", "work")

    def __init__(
        self,
        what: str,
        work: Callable[[Conn], Awaitable[Any]] | None,
        future: asyncio.Future[Any],
    ) -> None:
        self.what = what
        self.work = work
        self.future = future


@dataclass(slots=True)
class _Batch:
    """Groups taken from the queue, with their BEGIN and reads already sent to the thread."""

    groups: list[Pending]
    reads: asyncio.Future[BatchPlanner]


def _one_json(conn: sqlite3.Connection, sql: str, param: str) -> Any:
    """The one JSON value a one-row aggregate query answers."""
    return orjson.loads(conn.execute(sql, (param,)).fetchone()[0])


async def _rollback(conn: Conn) -> None:
    # SQLite rolls back by itself on some errors (I/O, full disk): then there is nothing to do.
    with contextlib.suppress(sqlite3.Error):
        await conn.execute("ROLLBACK")


def _rollback_sync(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class GroupCommitWriter:
    """Owns the writer's queue and task; see the module docstring."""

    def __init__(
        self,
        conn: Conn,
        batch_conn: sqlite3.Connection,
        max_batch: int,
        turnstile: Turnstile | None,
    ) -> None:
        self._conn = conn
        self._batch_conn = batch_conn
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-group-commit")
        self._max_batch = max_batch
        self._turnstile = turnstile
        self._queue: deque[Pending | _Job] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._batches = 0
        self._events = 0
        self._jobs = 0
        self._task = asyncio.create_task(self._run(), name="sqlite-group-commit")

    @property
    def stats(self) -> WriterStats:
        return WriterStats(self._batches, self._events, self._jobs)

    def submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        """Queue one group of events; the future resolves once they are committed."""
        future: asyncio.Future[list[StoredEvent]] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(items, future))
        if not self._wakeup.is_set():
            self._wakeup.set()
        return future

    async def transaction(self, what: str, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own, in queue order. A cancelled caller
        does not undo it. sqlite3 errors come out as the store's (see `store_error`)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(what, work, future))
        self._wakeup.set()
        return await future

    async def flush(self) -> None:
        """Return once everything queued before the call has been committed (or failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job("flush", None, future))
        self._wakeup.set()
        await future

    async def stop(self) -> None:
        """Commit everything queued, end the task, then close the batch connection."""
        self._stopping = True
        self._wakeup.set()
        await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self._batch_conn.close)
        self._thread.shutdown(wait=True)

    # --- the task -------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        done: list[tuple[Pending, Outcome]] = []  # committed, callers not told yet
        ahead: _Batch | None = None  # taken, its BEGIN and reads already sent to the thread
        while True:
            if ahead is None:
                if not queue or isinstance(queue[0], _Job):
                    settle(done)
                    done = []
                    if queue:
                        job = queue.popleft()
                        assert isinstance(job, _Job)
                        await self._run_job(job)
                        continue
                    if self._stopping:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                ahead = self._start(loop)
            batch, ahead = ahead, None
            try:
                outcomes, ahead = await self._commit(loop, batch, done)
            except Exception as exc:  # the batch failed as a whole; go on with the next one
                settle(done)  # if _commit failed before it could
                error = store_error(exc, "append") if isinstance(exc, sqlite3.Error) else exc
                outcomes = [error] * len(batch.groups)
            self._batches += 1
            self._events += sum(len(o) for o in outcomes if not isinstance(o, BaseException))
            done = list(zip(batch.groups, outcomes, strict=True))

    def _start(self, loop: asyncio.AbstractEventLoop) -> _Batch:
        """Take the groups for one batch and send its BEGIN and reads to the thread."""
        groups = take_groups(self._queue, self._max_batch)
        return _Batch(groups, loop.run_in_executor(self._thread, self._begin_and_read, groups))

    async def _commit(
        self, loop: asyncio.AbstractEventLoop, batch: _Batch, done: list[tuple[Pending, Outcome]]
    ) -> tuple[list[Outcome], _Batch | None]:
        """Plan ``batch`` and have the thread write and commit it, settling ``done`` (the batch
        before it) meanwhile; returns its outcomes and the next batch if one was started
        behind its COMMIT."""
        planner = await batch.reads  # the thread rolled back if BEGIN or a read failed
        try:
            rows: list[EventRow] = []
            updates: dict[str, dict[str, Any]] = {}
            entries = Entries()
            outcomes = [
                planner.plan(pending.items, rows, updates, entries) for pending in batch.groups
            ]
            statements = insert_statements(rows)
            statements += update_statements(planner.last_seq, planner.touched, updates)
            statements += entry_statements(entries)
        except BaseException:  # never leave the batch's transaction open behind us
            await loop.run_in_executor(self._thread, _rollback_sync, self._batch_conn)
            raise
        writing = loop.run_in_executor(self._thread, self._write_and_commit, statements)
        # While the thread writes and commits this batch (SQLite runs without the GIL), wake
        # the callers of the one before it, let them queue their next events, and send the
        # next batch's BEGIN and reads to the thread behind this COMMIT.
        settle(done)
        await asyncio.sleep(0)
        ahead = None
        if self._queue and isinstance(self._queue[0], Pending):
            ahead = self._start(loop)
        try:
            committed = await writing
        except BaseException:
            await self._put_back(ahead)
            raise
        if not committed:  # a constraint failed (and was rolled back): group by group
            await self._put_back(ahead)
            groups = batch.groups
            return await loop.run_in_executor(self._thread, self._one_by_one, groups), None
        return outcomes, ahead

    async def _put_back(self, ahead: _Batch | None) -> None:
        """Undo a batch started behind one that failed: roll back its BEGIN (if it ran) and
        put its groups back at the head of the queue, for the next turn."""
        if ahead is None:
            return
        with contextlib.suppress(Exception):
            await ahead.reads
            await asyncio.get_running_loop().run_in_executor(
                self._thread, _rollback_sync, self._batch_conn
            )
        self._queue.extendleft(reversed(ahead.groups))

    # --- on the batch thread ----------------------------------------------------------------

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        turnstile = self._turnstile
        if turnstile is not None:
            turnstile.acquire_blocking()
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            if turnstile is not None:
                turnstile.release()

    def _begin_and_read(self, groups: list[Pending]) -> BatchPlanner:
        """BEGIN IMMEDIATE and the batch's reads; rolled back here if a read fails."""
        conn = self._batch_conn
        self._begin_immediate(conn)
        try:
            return self._planner(conn, groups)
        except BaseException:
            _rollback_sync(conn)
            raise

    def _write_and_commit(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> bool:
        """The batch's writes and its COMMIT; False if a constraint failed (rolled back)."""
        conn = self._batch_conn
        try:
            for sql, params in statements:
                conn.executemany(sql, params)
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            _rollback_sync(conn)
            return False
        except BaseException:
            _rollback_sync(conn)
            raise
        return True

    def _planner(self, conn: sqlite3.Connection, groups: list[Pending]) -> BatchPlanner:
        """The batch's ``last_seq``s and already stored client_ids, read in its transaction;
        each query answers one JSON value, so SQLite walks the batch without Python."""
        conversations: dict[str, None] = {}
        keys: list[tuple[str, str]] = []
        for pending in groups:
            for item in pending.items:
                conversations[item[0]] = None
                if item[8] is not None:
                    keys.append((item[0], item[8]))
        known: dict[str, list[Any]] = _one_json(conn, _LAST_SEQS, codec.dumps(list(conversations)))
        last_seqs = {conv: values.pop(0) for conv, values in known.items()}
        stored = {
            (row[0], row[7]): codec.event_from_row(row, duplicate=True)
            for row in (_one_json(conn, _BY_CLIENT_ID, codec.dumps(keys)) if keys else ())
        }
        return BatchPlanner(last_seqs, stored, known)

    def _one_by_one(self, groups: list[Pending]) -> list[Outcome]:
        """The slow path after a constraint failure: each group under its own savepoint."""
        conn = self._batch_conn
        self._begin_immediate(conn)
        try:
            planner = self._planner(conn, groups)
            outcomes: list[Outcome] = []
            for pending in groups:
                rows: list[EventRow] = []
                updates: dict[str, dict[str, Any]] = {}
                entries = Entries()
                outcome = planner.plan(pending.items, rows, updates, entries)
                if rows:
                    conn.execute("SAVEPOINT grp")
                    try:
                        conn.executemany(INSERT_EVENT, rows)
                        touched = {row[0] for row in rows}
                        for sql, params in update_statements(planner.last_seq, touched, updates):
                            conn.executemany(sql, params)
                        for sql, params in entry_statements(entries):
                            conn.executemany(sql, params)
                    except sqlite3.IntegrityError as exc:
                        conn.execute("ROLLBACK TO grp")
                        planner.undo(rows)
                        outcome = store_error(exc, "append")
                    conn.execute("RELEASE grp")
                outcomes.append(outcome)
            conn.execute("COMMIT")
        except BaseException:
            _rollback_sync(conn)
            raise
        return outcomes

    # --- other write transactions, on the aiosqlite connection ---------------------------------

    async def _begin(self) -> None:
        if self._turnstile is not None:
            await self._turnstile.acquire()
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
        finally:
            if self._turnstile is not None:
                self._turnstile.release()

    async def _run_job(self, job: _Job) -> None:
        if job.work is None:  # a flush marker: everything before it is settled
            if not job.future.done():
                job.future.set_result(None)
            return
        conn = self._conn
        self._jobs += 1
        try:
            await self._begin()
            try:
                result = await job.work(conn)
                await conn.execute("COMMIT")
            except BaseException:
                await _rollback(conn)
                raise
        except Exception as exc:
            error = store_error(exc, job.what) if isinstance(exc, sqlite3.Error) else exc
            if not job.future.done():
                job.future.set_exception(error)
        else:
            if not job.future.done():
                job.future.set_result(result)
