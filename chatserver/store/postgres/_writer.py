"""The group-commit writer of the PostgreSQL store: appends queued meanwhile, one transaction.

Every `append`/`append_many` queues a *group* (`Pending`, shared with SQLite's
``_batch.py``). One task takes every group queued, up to ``max_batch`` events, and commits
them in ONE transaction on one pooled connection:

1. ``SELECT id, last_seq, … FROM conversations WHERE id = ANY(…) ORDER BY id FOR UPDATE``
   locks the batch's conversations (in id order, so two processes never deadlock on them) and
   reads their counters and facts (``_batch.py``); then one query reads the events already stored under the batch's
   client_ids. The lock is held to COMMIT: another process appending to the same conversation
   waits for it, then reads the counter this batch left, so seqs stay gap-free and are never
   reused, and a client_id stored by one process is seen by the other.
2. `BatchPlanner` (sans-I/O, the same as SQLite's) assigns seqs and spots duplicates.
3. One ``INSERT … SELECT FROM unnest(…)`` stores the batch's rows, one ``UPDATE … FROM
   unnest(…)`` moves every ``last_seq``, and the merged ``update=`` fields and changed facts
   of each conversation, and the agents assigned and tags set, ride in the same transaction; then
   ``COMMIT``.
4. Only then is each caller told: ack after commit.

A constraint that fails (an ``update`` naming an unknown agent) rolls the batch back, and it
is replayed group by group under savepoints, so only the offending group fails. Any other
failure (the connection lost, the server restarting) fails the batch's groups with
`UnavailableError`; the pool drops a broken connection and the next batch gets a new one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ..base import StoredEvent
from ..sql import _codec as codec
from ..sqlite._batch import (
    BatchPlanner,
    Entries,
    EventRow,
    Item,
    Outcome,
    Pending,
    entry_statements,
    settle,
    take_groups,
)
from ..sqlite._writer import WriterStats
from ._errors import store_error

__all__ = ["GroupCommitWriter", "WriterStats"]

Conn = AsyncConnection[TupleRow]

_LOCK = (
    "SELECT id, last_seq, first_assigned_at, first_response_at, transfers FROM conversations"
    " WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)
_BY_CLIENT_ID = (
    "SELECT e.conversation_id, e.seq, e.ts, e.kind, e.actor_role, e.actor_id, e.actor_name,"
    " e.client_id, e.body FROM unnest(%s::text[], %s::text[]) AS k (conversation_id, client_id)"
    " JOIN events AS e ON e.conversation_id = k.conversation_id AND e.client_id = k.client_id"
)
_INSERT = (
    "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, actor_id, actor_name,"
    " client_id, body) SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
)
_LAST_SEQS = (
    "UPDATE conversations AS c SET last_seq = u.last_seq"
    " FROM unnest(%s::text[], %s::int[]) AS u (id, last_seq) WHERE c.id = u.id"
)


class _Flush:
    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


class GroupCommitWriter:
    """Owns the append queue and the task that commits it; see the module docstring."""

    def __init__(self, pool: AsyncConnectionPool[Conn], max_batch: int) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: deque[Pending | _Flush] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._batches = 0
        self._events = 0
        self._task = asyncio.create_task(self._run(), name="postgres-group-commit")

    @property
    def stats(self) -> WriterStats:
        return WriterStats(self._batches, self._events)

    def submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        """Queue one group of events; the future resolves once they are committed."""
        future: asyncio.Future[list[StoredEvent]] = asyncio.get_running_loop().create_future()
        self._queue.append(Pending(items, future))
        self._wakeup.set()
        return future

    async def flush(self) -> None:
        """Return once everything queued before the call has been committed (or failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Flush(future))
        self._wakeup.set()
        await future

    async def stop(self) -> None:
        """Commit everything queued, then end the task."""
        self._stopping = True
        self._wakeup.set()
        await self._task

    async def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            head = queue[0]
            if isinstance(head, _Flush):
                queue.popleft()
                if not head.future.done():
                    head.future.set_result(None)
                continue
            groups = take_groups(self._queue, self._max_batch)
            try:
                outcomes = await self._commit(groups)
            except Exception as exc:  # the batch failed as a whole; go on with the next one
                error = store_error(exc, "append") if isinstance(exc, psycopg.Error) else exc
                outcomes = [error] * len(groups)
            self._batches += 1
            self._events += sum(len(o) for o in outcomes if not isinstance(o, BaseException))
            settle(zip(groups, outcomes, strict=True))

    async def _commit(self, groups: list[Pending]) -> list[Outcome]:
        async with self._pool.connection() as conn:
            try:
                return await self._batch(conn, groups, one_by_one=False)
            except errors.IntegrityError:
                pass  # rolled back: replay group by group, under savepoints
            return await self._batch(conn, groups, one_by_one=True)

    async def _batch(self, conn: Conn, groups: list[Pending], *, one_by_one: bool) -> list[Outcome]:
        async with conn.transaction():
            planner = await _planner(conn, groups)
            if not one_by_one:
                rows: list[EventRow] = []
                updates: dict[str, dict[str, Any]] = {}
                entries = Entries()
                outcomes = [
                    planner.plan(pending.items, rows, updates, entries) for pending in groups
                ]
                await _write(conn, rows, planner.last_seq, planner.touched, updates, entries)
                return outcomes
            outcomes = []
            for pending in groups:
                rows = []
                updates = {}
                entries = Entries()
                outcome = planner.plan(pending.items, rows, updates, entries)
                if rows:
                    touched = {row[0] for row in rows}
                    try:
                        async with conn.transaction():  # a savepoint
                            await _write(conn, rows, planner.last_seq, touched, updates, entries)
                    except errors.IntegrityError as exc:
                        planner.undo(rows)
                        outcome = store_error(exc, "append")
                outcomes.append(outcome)
            return outcomes


async def _planner(conn: Conn, groups: list[Pending]) -> BatchPlanner:
    """Lock the batch's conversations, read their last_seq and the stored client_ids."""
    conversations: dict[str, None] = {}
    keys: list[tuple[str, str]] = []
    for pending in groups:
        for item in pending.items:
            conversations[item[0]] = None
            if item[8] is not None:
                keys.append((item[0], item[8]))
    cursor = await conn.execute(_LOCK, [list(conversations)])
    last_seq: dict[str, int] = {}
    facts: dict[str, list[Any]] = {}
    for row in await cursor.fetchall():
        last_seq[row[0]] = int(row[1])
        facts[row[0]] = [row[2], row[3], int(row[4])]
    stored: dict[tuple[str, str], StoredEvent] = {}
    if keys:
        cursor = await conn.execute(_BY_CLIENT_ID, [[k[0] for k in keys], [k[1] for k in keys]])
        for row in await cursor.fetchall():
            stored[(row[0], row[7])] = codec.event_from_row(row, duplicate=True)
    return BatchPlanner(last_seq, stored, facts)


async def _write(
    conn: Conn,
    rows: list[EventRow],
    last_seq: dict[str, int],
    touched: Iterable[str],
    updates: dict[str, dict[str, Any]],
    entries: Entries,
) -> None:
    """The rows, every touched conversation's last_seq, the merged updates and the entries of
    the index tables (agents, tags)."""
    if rows:
        await conn.execute(_INSERT, [list(column) for column in zip(*rows, strict=True)])
    plain: list[str] = []
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for conv in touched:
        fields = updates.get(conv)
        if not fields:
            plain.append(conv)
            continue
        columns = tuple(sorted(fields))
        by_columns.setdefault(columns, []).append(
            (*(fields[c] for c in columns), last_seq[conv], conv)
        )
    if plain:
        await conn.execute(_LAST_SEQS, [plain, [last_seq[c] for c in plain]])
    for columns, params in by_columns.items():
        assignments = ", ".join(f"{c} = %s" for c in columns)
        sql = f"UPDATE conversations SET {assignments}, last_seq = %s WHERE id = %s"
        async with conn.cursor() as cursor:
            await cursor.executemany(sql, params)
    for sql, rows_of in entry_statements(entries):
        async with conn.cursor() as cursor:
            await cursor.executemany(sql.replace("?", "%s"), rows_of)
