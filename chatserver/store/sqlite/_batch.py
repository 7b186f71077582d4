"""Group commit planning, sans-I/O: what one batch of queued appends writes and returns.

Shared by both group-commit writers (``sqlite/_writer.py``, ``postgres/_writer.py``): each
takes a batch off its queue with `take_groups` and tells the callers with `settle`; in between
it reads, inside its write transaction, the ``last_seq`` and the facts (below) of every
conversation in the batch and the stored events whose (conversation_id, client_id) the batch
repeats; `BatchPlanner` then assigns seqs in Python, spots duplicates (stored or earlier in the
same batch), merges the conversation updates, and yields the rows to insert and the updates to
run — a handful of statements for the whole batch — plus each caller's result.

The *facts* are what the figures need of a conversation's events, kept on its row so that a
summary reads one row per conversation (docs/analytics.md): ``first_assigned_at`` (the
earliest ``assigned`` event's ts), ``first_response_at`` (the earliest agent ``message``'s; a
bot's, actor ``bot:<id>``, is not a person's response)
and ``transfers`` (its ``transfer`` events); each agent an ``assigned`` event names goes into
``conversation_agents``, and an ``update=`` of ``tags`` rewrites the conversation's rows of
``conversation_tags`` (`Entries`, `entry_statements`). The planner derives them from each
event's kind, so no caller can forget them, and knowing the stored values it writes a fact only
when it changes: most events move nothing but ``last_seq``, which stays one statement for the
whole batch.

A *group* is what one caller queued: one `append` or one `append_many`. It succeeds or fails as
a whole; a group naming an unknown conversation fails with `NotFoundError` and takes no seq.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from itertools import chain
from typing import Any, TypeVar

import orjson

from ..base import ActorRole, NotFoundError, StoredEvent

M = TypeVar("M")

__all__ = [
    "DELETE_TAGS",
    "FACT_COLUMNS",
    "INSERT_AGENT",
    "INSERT_CHUNK",
    "INSERT_EVENT",
    "INSERT_TAG",
    "UPDATE_LAST_SEQS",
    "BatchPlanner",
    "Entries",
    "EventRow",
    "Item",
    "Outcome",
    "Pending",
    "entry_statements",
    "insert_statements",
    "settle",
    "take_groups",
    "update_statements",
]

#: A queued event: (conversation_id, kind, body, body_json, ts, actor_role, actor_id,
#: actor_name, client_id, update). ``update`` holds column values already encoded for SQL.
Item = tuple[
    str, str, dict[str, Any], str, str, ActorRole, str | None, str | None, str | None,
    dict[str, Any] | None,
]  # fmt: skip

#: A row of the events table, in the order of `INSERT_EVENT`'s columns.
EventRow = tuple[str, int, str, str, str, str | None, str | None, str | None, str]

#: Every conversation's new ``last_seq`` from one JSON object ``{conversation_id: last_seq}``.
UPDATE_LAST_SEQS = (
    "UPDATE conversations SET last_seq = j.value FROM json_each(?) AS j"
    " WHERE conversations.id = j.key"
)

INSERT_EVENT = (
    "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, actor_id, actor_name,"
    " client_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: The facts kept on a conversation's row, in the order `BatchPlanner` holds them.
FACT_COLUMNS = ("first_assigned_at", "first_response_at", "transfers")

#: An agent took part in a conversation: (agent_id, conversation_id). The same text on both
#: backends (each converts the placeholders).
INSERT_AGENT = (
    "INSERT INTO conversation_agents (conversation_id, agent_id, created_at, conversation_rowid)"
    " SELECT id, ?, created_at, rowid FROM conversations WHERE id = ? ON CONFLICT DO NOTHING"
)

#: A conversation carries a tag: (tag, conversation_id).
INSERT_TAG = (
    "INSERT INTO conversation_tags (conversation_id, tag, created_at, conversation_rowid)"
    " SELECT id, ?, created_at, rowid FROM conversations WHERE id = ? ON CONFLICT DO NOTHING"
)
DELETE_TAGS = "DELETE FROM conversation_tags WHERE conversation_id = ?"


class Entries:
    """What a batch adds to the conversations' index tables: the agents each ``assigned``
    event names, (agent_id, conversation_id); the new ``tags`` (as encoded: a JSON list) of
    each conversation whose tags an ``update=`` set."""

    __slots__ = ("agents", "tags")

    def __init__(self) -> None:
        self.agents: list[tuple[str, str]] = []
        self.tags: dict[str, str] = {}


def entry_statements(entries: Entries) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The index tables' writes for a batch (sql with ``?``, parameter rows)."""
    statements: list[tuple[str, list[tuple[Any, ...]]]] = []
    if entries.tags:
        statements.append((DELETE_TAGS, [(conv,) for conv in entries.tags]))
        rows = [
            (tag, conv)
            for conv, text in entries.tags.items()
            for tag in dict.fromkeys(orjson.loads(text))
            if isinstance(tag, str)
        ]
        if rows:
            statements.append((INSERT_TAG, rows))
    if entries.agents:
        statements.append((INSERT_AGENT, list(entries.agents)))
    return statements


#: Most rows one multi-row INSERT carries (see `insert_statements`).
INSERT_CHUNK = 64


def insert_statements(rows: list[EventRow]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The INSERTs for a batch's rows, as (sql, parameter rows) for ``executemany``: every
    `INSERT_CHUNK` rows make ONE parameter row of one multi-row statement
    (``VALUES (…), (…), …``), the rest go in power-of-two sizes, so a handful of statement
    texts serve every batch size.

    Why not one ``executemany`` of single rows: it binds each row holding the GIL and releases
    it only for that row's step, so while the event loop runs Python the insert crawls one row
    per GIL hand-off. A multi-row statement binds its rows at once and inserts them all
    without the GIL.
    """
    by_size: dict[int, list[tuple[Any, ...]]] = {}
    start, count = 0, len(rows)
    while start < count:
        left = count - start
        size = INSERT_CHUNK if left >= INSERT_CHUNK else 1 << (left.bit_length() - 1)
        by_size.setdefault(size, []).append(tuple(chain.from_iterable(rows[start : start + size])))
        start += size
    return [(_insert_rows(size), chunks) for size, chunks in by_size.items()]


@functools.cache
def _insert_rows(size: int) -> str:
    return INSERT_EVENT + ", (?, ?, ?, ?, ?, ?, ?, ?, ?)" * (size - 1)


class Pending:
    """One caller's group in the queue, with the future its caller awaits."""

    __slots__ = ("future", "items")

    def __init__(self, items: list[Item], future: asyncio.Future[list[StoredEvent]]) -> None:
        self.items = items
        self.future = future


#: What one group's caller gets: its stored events, or the error that failed the group.
Outcome = list[StoredEvent] | BaseException


def take_groups(queue: deque[Pending | M], max_batch: int) -> list[Pending]:
    """The groups for one batch: those at the head of a writer's queue, up to ``max_batch``
    events (one group at least), stopping at anything that is not a group (a job, a flush)."""
    groups: list[Pending] = []
    count = 0
    while queue:
        head = queue[0]
        if not isinstance(head, Pending) or (groups and count + len(head.items) > max_batch):
            break
        queue.popleft()
        groups.append(head)
        count += len(head.items)
    return groups


def settle(done: Iterable[tuple[Pending, Outcome]]) -> None:
    """Tell each caller its outcome (one whose caller was cancelled is skipped)."""
    for pending, outcome in done:
        future = pending.future
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class BatchPlanner:
    """Seq allocation, idempotency and facts for one batch, from state read in its transaction.

    ``last_seq`` maps each known conversation of the batch to its stored ``last_seq``;
    ``facts`` maps it to its stored facts (`FACT_COLUMNS`, as a list); ``stored`` maps
    (conversation_id, client_id) to an already stored event. `plan` is called once per group,
    in queue order, and adds that group's rows, merged conversation updates and index entries
    to those it is given: the whole batch's, or the group's own (slow path).
    """

    __slots__ = ("facts", "last_seq", "saved", "seen", "touched")

    def __init__(
        self,
        last_seq: dict[str, int],
        stored: dict[tuple[str, str], StoredEvent],
        facts: dict[str, list[Any]],
    ) -> None:
        self.last_seq = last_seq
        self.seen = stored
        self.facts = facts
        self.touched: set[str] = set()
        self.saved: dict[str, list[Any]] = {}  # facts before the current group changed them

    def plan(
        self,
        items: list[Item],
        rows: list[EventRow],
        updates: dict[str, dict[str, Any]],
        entries: Entries,
    ) -> Outcome:
        """Assign seqs to one group, record them as taken, and return its caller's result."""
        last_seq = self.last_seq
        for item in items:
            if item[0] not in last_seq:
                return NotFoundError(f"unknown conversation {item[0]!r}")
        self.saved = {}
        results: list[StoredEvent] = []
        seen = self.seen
        touched = self.touched
        for conv, kind, body, body_json, ts, role, actor_id, actor_name, client_id, upd in items:
            if client_id is not None:
                prior = seen.get((conv, client_id))
                if prior is not None:
                    results.append(prior if prior.duplicate else replace(prior, duplicate=True))
                    continue
            seq = last_seq[conv] + 1
            last_seq[conv] = seq
            touched.add(conv)
            event = StoredEvent(conv, seq, ts, kind, role, actor_id, actor_name, client_id, body)
            rows.append((conv, seq, ts, kind, role, actor_id, actor_name, client_id, body_json))
            results.append(event)
            if client_id is not None:
                seen[(conv, client_id)] = event
            if upd:
                merged = updates.get(conv)
                if merged is None:
                    updates[conv] = dict(upd)
                else:
                    merged.update(upd)
                if "tags" in upd:
                    entries.tags[conv] = upd["tags"]
            if kind == "message":
                if role == "agent" and not (actor_id or "").startswith("bot:"):
                    self._first(conv, 1, ts, updates)
                elif upd and "first_response_at" in upd:
                    self._set(conv, 1, upd["first_response_at"])
            elif kind == "assigned":
                self._first(conv, 0, ts, updates)
                agent_id = body.get("agent_id")
                if isinstance(agent_id, str):
                    entries.agents.append((agent_id, conv))
            elif kind == "transfer":
                self._set(conv, 2, self.facts[conv][2] + 1)
                updates.setdefault(conv, {})["transfers"] = self.facts[conv][2]
            elif upd and "first_response_at" in upd:
                self._set(conv, 1, upd["first_response_at"])
        return results

    def _set(self, conv: str, index: int, value: Any) -> None:
        facts = self.facts[conv]
        if conv not in self.saved:
            self.saved[conv] = list(facts)
        facts[index] = value

    def _first(self, conv: str, index: int, ts: str, updates: dict[str, dict[str, Any]]) -> None:
        """The fact at ``index`` is the earliest ts of its kind: ``ts`` if earlier. A caller's
        ``update=`` of the same column on this event is overridden by the fact."""
        known = self.facts[conv][index]
        column = FACT_COLUMNS[index]
        fields = updates.get(conv)
        if known is None or ts < known:
            self._set(conv, index, ts)
            known = ts
        elif fields is None or column not in fields:
            return
        if fields is None:
            updates[conv] = {column: known}
        else:
            fields[column] = known

    def undo(self, rows: list[EventRow]) -> None:
        """Give back what a group's `plan` took, its seqs, client_ids and facts: it failed in
        SQL."""
        for conv, seq, *_, client_id, _body in reversed(rows):
            if self.last_seq.get(conv) == seq:
                self.last_seq[conv] = seq - 1
            if client_id is not None:
                self.seen.pop((conv, client_id), None)
        for conv, facts in self.saved.items():
            self.facts[conv] = facts
        self.saved = {}


def update_statements(
    last_seq: dict[str, int], touched: Iterable[str], updates: dict[str, dict[str, Any]]
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The conversation UPDATEs for a batch: (sql, parameter rows), one per set of columns.

    Every touched conversation gets its new ``last_seq``; merged ``update=`` fields ride in the
    same statement. Rows with the same columns share one ``executemany``. The common case —
    only ``last_seq`` moves — is ONE statement whatever the batch's size, its parameter a JSON
    object ``{id: last_seq}``: SQLite walks it without coming back to Python per row (an
    ``executemany`` binds each row holding the GIL, and takes turns at it with the event loop).
    """
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    plain: dict[str, int] = {}
    for conv in touched:
        fields = updates.get(conv)
        if not fields:
            plain[conv] = last_seq[conv]
            continue
        columns = tuple(sorted(fields))
        by_columns.setdefault(columns, []).append(
            (*(fields[c] for c in columns), last_seq[conv], conv)
        )
    statements: list[tuple[str, list[tuple[Any, ...]]]] = []
    if plain:
        statements.append((UPDATE_LAST_SEQS, [(orjson.dumps(plain).decode(),)]))
    for columns, rows in by_columns.items():
        assignments = ", ".join(f"{c} = ?" for c in columns)
        statements.append(
            (f"UPDATE conversations SET {assignments}, last_seq = ? WHERE id = ?", rows)
        )
    return statements
