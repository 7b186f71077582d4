"""The group-commit writer: the one task that writes to a SQLite store's writer connection.

Everything that writes goes through one FIFO queue, so transactions never interleave on the
connection: *groups* of events (one `append` or `append_many` each) and *jobs* (any other write
transaction, or a flush marker). The writer task takes every group queued up to ``max_batch``
events and commits them in ONE transaction with a handful of calls on the connection:

1. ``BEGIN IMMEDIATE`` (takes the database's write lock; ``busy_timeout`` waits for it, and
   the `Turnstile` makes the processes sharing the file take turns at it) and two
   reads — the batch's ``last_seq``s and its already stored client_ids — each answering one
   JSON value, so the connection's thread runs them without coming back to Python per row;
2. `BatchPlanner` assigns seqs and spots duplicates in Python;
3. ``executemany`` the event rows and update the conversations — every ``last_seq`` in ONE
   statement reading a JSON object (see `update_statements`), rows with ``update=`` fields by
   ``executemany`` — sent together; ``COMMIT`` once all have succeeded;
4. only then each caller's future is resolved.

No timer: the next batch is whatever piled up meanwhile. While one batch's COMMIT runs on the
connection's thread (the GIL released), the writer wakes the callers of the batch committed
before it, lets them queue their next events, and queues the next batch's BEGIN and reads
behind the COMMIT: Python work and SQLite work overlap. A caller is never told before its own
commit has returned; it may be told one batch later, never earlier.

If a statement breaks a constraint (an ``update`` naming an unknown agent, say), the batch is
rolled back and replayed group by group under savepoints, and only the offending group fails.
Any other failure (locked past ``busy_timeout``, I/O) fails the batch's groups with
`UnavailableError` and the writer goes on with the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite
import orjson

from . import _codec as codec
from ._batch import (
    INSERT_EVENT,
    BatchPlanner,
    EventRow,
    Item,
    Outcome,
    Pending,
    update_statements,
)
from ._turnstile import Turnstile
from .base import ConflictError, NotFoundError, StoredEvent, UnavailableError

__all__ = ["GroupCommitWriter", "WriterStats", "store_error"]

T = TypeVar("T")
Conn = aiosqlite.Connection

_LAST_SEQS = (
    "SELECT json_group_object(id, last_seq) FROM conversations"
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
    """Groups taken from the queue, with their BEGIN and reads already queued."""

    groups: list[Pending]
    reads: asyncio.Future[list[Any]]  # [BEGIN's, last_seqs, stored events] or errors


def _settle(done: list[tuple[Pending, Outcome]]) -> None:
    """Tell each caller its outcome (one whose caller was cancelled is skipped)."""
    for pending, outcome in done:
        future = pending.future
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


async def _execute(conn: Conn, sql: str) -> None:
    await conn.execute(sql)


async def _executemany(conn: Conn, sql: str, params: Sequence[Sequence[Any]]) -> None:
    await conn.executemany(sql, params)


async def _fetch_json(conn: Conn, sql: str, param: str) -> Any:
    """The one JSON value a one-row aggregate query answers."""
    rows = await conn.execute_fetchall(sql, (param,))
    return orjson.loads(next(iter(rows))[0])


async def _rollback(conn: Conn) -> None:
    # SQLite rolls back by itself on some errors (I/O, full disk): then there is nothing to do.
    with contextlib.suppress(sqlite3.Error):
        await conn.execute("ROLLBACK")


class GroupCommitWriter:
    """Owns the writer connection's queue and task; see the module docstring."""

    def __init__(self, conn: Conn, max_batch: int, turnstile: Turnstile | None) -> None:
        self._conn = conn
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
        """Commit everything queued, then end the task."""
        self._stopping = True
        self._wakeup.set()
        await self._task

    # --- the task -------------------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        done: list[tuple[Pending, Outcome]] = []  # committed, callers not told yet
        ahead: _Batch | None = None  # taken, its BEGIN and reads already queued
        while True:
            if ahead is None:
                if not queue or isinstance(queue[0], _Job):
                    _settle(done)
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
                ahead = self._start()
            batch, ahead = ahead, None
            try:
                outcomes, ahead, done = await self._commit(batch, done)
            except Exception as exc:  # the batch failed as a whole; go on with the next one
                _settle(done)
                error = store_error(exc, "append") if isinstance(exc, sqlite3.Error) else exc
                outcomes = [error] * len(batch.groups)
            self._batches += 1
            self._events += sum(len(o) for o in outcomes if not isinstance(o, BaseException))
            done = list(zip(batch.groups, outcomes, strict=True))

    def _start(self) -> _Batch:
        """Take the groups for one batch and queue its BEGIN and reads on the connection."""
        queue = self._queue
        groups: list[Pending] = []
        count = 0
        while queue:
            head = queue[0]
            if isinstance(head, _Job) or (groups and count + len(head.items) > self._max_batch):
                break
            queue.popleft()
            groups.append(head)
            count += len(head.items)
        conversations: dict[str, None] = {}
        keys: list[tuple[str, str]] = []
        for pending in groups:
            for item in pending.items:
                conversations[item[0]] = None
                if item[8] is not None:
                    keys.append((item[0], item[8]))
        reads = self._begin_and_read(codec.dumps(list(conversations)), codec.dumps(keys))
        return _Batch(groups, asyncio.ensure_future(reads))

    async def _begin_and_read(self, conversations: str, keys: str) -> list[Any]:
        """BEGIN IMMEDIATE and the batch's two reads, queued on the connection at once."""
        conn = self._conn
        await self._take_turn()
        try:
            results = await asyncio.gather(
                _execute(conn, "BEGIN IMMEDIATE"),
                _fetch_json(conn, _LAST_SEQS, conversations),
                _fetch_json(conn, _BY_CLIENT_ID, keys),
                return_exceptions=True,
            )
            return list(results)
        finally:
            self._end_turn()

    async def _begin(self) -> None:
        await self._take_turn()
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
        finally:
            self._end_turn()

    async def _take_turn(self) -> None:
        if self._turnstile is not None:
            await self._turnstile.acquire()

    def _end_turn(self) -> None:
        if self._turnstile is not None:
            self._turnstile.release()

    async def _commit(
        self, batch: _Batch, done: list[tuple[Pending, Outcome]]
    ) -> tuple[list[Outcome], _Batch | None, list[tuple[Pending, Outcome]]]:
        """Commit ``batch``; returns its outcomes, the next batch if one was started behind
        its COMMIT, and what is still to be settled. ``done`` gets settled on the way."""
        conn = self._conn
        try:
            reads = await batch.reads
            for result in reads:
                if isinstance(result, BaseException):
                    raise result
            stored = {
                (row[0], row[7]): codec.event_from_row(row, duplicate=True) for row in reads[2]
            }
            planner = BatchPlanner(reads[1], stored)
            rows: list[EventRow] = []
            updates: dict[str, dict[str, Any]] = {}
            outcomes = [planner.plan(pending.items, rows, updates) for pending in batch.groups]
            # The inserts and the conversation updates go to the connection together (one
            # round trip); COMMIT is sent only once both have succeeded.
            statements = update_statements(planner.last_seq, planner.touched, updates)
            if rows:
                statements.insert(0, (INSERT_EVENT, rows))
            for result in await asyncio.gather(
                *(_executemany(conn, sql, params) for sql, params in statements),
                return_exceptions=True,
            ):
                if isinstance(result, BaseException):
                    raise result
        except sqlite3.IntegrityError:
            await _rollback(conn)
            _settle(done)
            return await self._commit_one_by_one(batch.groups), None, []
        except BaseException:
            await _rollback(conn)
            raise
        committing = asyncio.ensure_future(_execute(conn, "COMMIT"))
        # While SQLite commits this batch (on its thread, without the GIL), wake the callers
        # of the previous one and let them queue their next events; then queue the next
        # batch's BEGIN and reads behind our COMMIT, so they run as soon as it is done.
        _settle(done)
        await asyncio.sleep(0)
        ahead = None
        if self._queue and isinstance(self._queue[0], Pending):
            ahead = self._start()
        try:
            await committing
        except BaseException:
            await _rollback(conn)
            if ahead is not None:  # undo its BEGIN (if it ran) and put its groups back
                await ahead.reads
                await _rollback(conn)
                self._queue.extendleft(reversed(ahead.groups))
            raise
        return outcomes, ahead, []

    async def _commit_one_by_one(self, groups: list[Pending]) -> list[Outcome]:
        """The slow path after a constraint failure: each group under its own savepoint."""
        conn = self._conn
        await self._begin()
        try:
            conversations = list({i[0]: None for pending in groups for i in pending.items})
            keys = [(i[0], i[8]) for pending in groups for i in pending.items if i[8] is not None]
            stored = {
                (row[0], row[7]): codec.event_from_row(row, duplicate=True)
                for row in await _fetch_json(conn, _BY_CLIENT_ID, codec.dumps(keys))
            }
            planner = BatchPlanner(
                await _fetch_json(conn, _LAST_SEQS, codec.dumps(conversations)), stored
            )
            outcomes: list[Outcome] = []
            for pending in groups:
                rows: list[EventRow] = []
                updates: dict[str, dict[str, Any]] = {}
                outcome = planner.plan(pending.items, rows, updates)
                if rows:
                    await conn.execute("SAVEPOINT grp")
                    try:
                        await conn.executemany(INSERT_EVENT, rows)
                        touched = {row[0] for row in rows}
                        for sql, params in update_statements(planner.last_seq, touched, updates):
                            await conn.executemany(sql, params)
                    except sqlite3.IntegrityError as exc:
                        await conn.execute("ROLLBACK TO grp")
                        planner.undo(rows)
                        outcome = store_error(exc, "append")
                    await conn.execute("RELEASE grp")
                outcomes.append(outcome)
            await conn.execute("COMMIT")
        except BaseException:
            await _rollback(conn)
            raise
        return outcomes

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
