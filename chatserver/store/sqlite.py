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
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import aiosqlite
import orjson

from . import _codec as codec
from ._batch import Item
from ._checkpoint import Checkpointer, CheckpointStats
from ._migrate import apply_migrations
from ._turnstile import Turnstile, open_turnstile
from ._writer import GroupCommitWriter, WriterStats, store_error
from .base import (
    ActorRole,
    AgentRecord,
    AuditEntry,
    CannedResponse,
    ConflictError,
    ConversationRecord,
    DecisionRecord,
    ForgetResult,
    JSONObject,
    NewEvent,
    NotFoundError,
    PurgeResult,
    RoutingDocument,
    StoredEvent,
    TokenRecord,
    UnavailableError,
    VisitorRecord,
    iso_now,
)

if TYPE_CHECKING:
    from .interface import Store

__all__ = ["SQLiteStore", "WriterStats"]

T = TypeVar("T")
Conn = aiosqlite.Connection


class SQLiteStore:
    """The `Store` on a SQLite file (WAL, group commit, multi-process safe)."""

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

    async def __aenter__(self) -> SQLiteStore:
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
        """The database file (`SnapshotSource`): analytics' snapshots open it read-only."""
        return self.path

    @property
    def checkpoints(self) -> CheckpointStats:
        """Background WAL checkpoints since `open` (see ``_checkpoint.py``)."""
        c = self._checkpointer
        return c.stats if c is not None else CheckpointStats(0, 0, 0)

    async def open(self) -> None:
        """Connect, set WAL and the pragmas, apply pending migrations, start the writer."""
        if self._writer is not None:
            raise RuntimeError("this SQLiteStore is already open")
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

    # --- the event log: group commit --------------------------------------------------------

    async def append(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        *,
        ts: str,
        actor_role: ActorRole,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> StoredEvent:
        """Store one event (with its conversation ``update``); returns after the commit."""
        item = self._item(
            conversation_id, kind, body, ts, actor_role, actor_id, actor_name, client_id, update
        )
        return (await self._submit([item]))[0]

    async def append_many(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        """Store several events in one transaction, all or none; results in list order."""
        prepared = [
            self._item(
                e.conversation_id,
                e.kind,
                e.body,
                e.ts,
                e.actor_role,
                e.actor_id,
                e.actor_name,
                e.client_id,
                e.update,
            )
            for e in items
        ]
        if not prepared:
            return []
        return await self._submit(prepared)

    def _item(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        ts: str,
        actor_role: ActorRole,
        actor_id: str | None,
        actor_name: str | None,
        client_id: str | None,
        update: Mapping[str, Any] | None,
    ) -> Item:
        if not self._accepting:
            raise UnavailableError("the store is not open")
        codec.check_actor_role(actor_role)
        codec.check_ts(ts)
        if not isinstance(conversation_id, str) or not isinstance(kind, str):
            raise TypeError("conversation_id and kind are strings")
        if client_id is not None and not isinstance(client_id, str):
            raise TypeError("client_id is a string or None")
        return (
            conversation_id, kind, body, codec.encode_body(body), ts, actor_role, actor_id,
            actor_name, client_id, codec.conversation_changes(update) if update else None,
        )  # fmt: skip

    def _submit(self, items: list[Item]) -> asyncio.Future[list[StoredEvent]]:
        if self._group is None:
            raise UnavailableError("the store is not open")
        return self._group.submit(items)

    async def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[StoredEvent]:
        """Stored events with seq > ``after_seq`` (of ``kinds`` only, if given), in seq order."""
        sql = f"SELECT {codec.EVENT_COLUMNS} FROM events WHERE conversation_id = ? AND seq > ?"
        params: list[Any] = [conversation_id, after_seq]
        if kinds is not None:
            sql += " AND kind IN (SELECT value FROM json_each(?))"
            params.append(codec.dumps(list(kinds)))
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = await self._read(sql, params)
        if not rows:
            await self.last_seq(conversation_id)  # NotFoundError for an unknown conversation
        return [codec.event_from_row(row) for row in rows]

    async def last_seq(self, conversation_id: str) -> int:
        rows = await self._read(
            "SELECT last_seq FROM conversations WHERE id = ?", [conversation_id]
        )
        if not rows:
            raise NotFoundError(f"unknown conversation {conversation_id!r}")
        return int(rows[0][0])

    # --- plumbing for everything else -------------------------------------------------------

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        conn = self._reader
        if conn is None or not self._accepting:
            raise UnavailableError("the store is not open")
        try:
            return list(await conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise store_error(exc, "read") from exc

    async def _transaction(self, what: str, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction of its own, queued with the appends."""
        if self._group is None or not self._accepting:
            raise UnavailableError("the store is not open")
        return await self._group.transaction(what, work)

    async def _insert(self, what: str, table: str, columns: str, row: tuple[Any, ...]) -> None:
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})"

        async def work(conn: Conn) -> None:
            await conn.execute(sql, row)

        await self._transaction(what, work)

    async def _update(
        self, what: str, table: str, key: str, changes: dict[str, Any], returning: str
    ) -> list[Any]:
        """UPDATE one row by id and return it (`NotFoundError` if there is none)."""
        if changes:
            sets = ", ".join(f"{name} = ?" for name in changes)
            sql = f"UPDATE {table} SET {sets} WHERE id = ? RETURNING {returning}"
        else:
            sql = f"SELECT {returning} FROM {table} WHERE id = ?"
        params = [*changes.values(), key]

        async def work(conn: Conn) -> list[Any]:
            return list(await conn.execute_fetchall(sql, params))

        rows = await self._transaction(what, work)
        if not rows:
            raise NotFoundError(f"{what}: unknown id {key!r}")
        return list(rows[0])

    # --- agents -----------------------------------------------------------------------------

    async def add_agent(self, agent: AgentRecord) -> None:
        await self._insert(
            f"add agent {agent.username!r}",
            "agents",
            "id, username, username_key, display_name, password_hash, skills, capacity, roles,"
            " disabled, created_at",
            codec.agent_row(agent),
        )

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        rows = await self._read(
            f"SELECT {codec.AGENT_COLUMNS} FROM agents WHERE id = ?", [agent_id]
        )
        return codec.agent_from_row(rows[0]) if rows else None

    async def get_agent_by_username(self, username: str) -> AgentRecord | None:
        rows = await self._read(
            f"SELECT {codec.AGENT_COLUMNS} FROM agents WHERE username_key = ?",
            [username.casefold()],
        )
        return codec.agent_from_row(rows[0]) if rows else None

    async def list_agents(self, *, include_disabled: bool = True) -> list[AgentRecord]:
        where = "" if include_disabled else " WHERE disabled = 0"
        rows = await self._read(
            f"SELECT {codec.AGENT_COLUMNS} FROM agents{where} ORDER BY username_key"
        )
        return [codec.agent_from_row(row) for row in rows]

    async def update_agent(self, agent_id: str, **fields: Any) -> AgentRecord:
        changes = codec.agent_changes(fields)
        row = await self._update("update agent", "agents", agent_id, changes, codec.AGENT_COLUMNS)
        return codec.agent_from_row(row)

    # --- tokens -----------------------------------------------------------------------------

    async def add_token(self, token: TokenRecord) -> None:
        await self._insert("add token", "tokens", codec.TOKEN_COLUMNS, codec.token_row(token))

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        rows = await self._read(
            f"SELECT {codec.TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?", [token_hash]
        )
        return codec.token_from_row(rows[0]) if rows else None

    async def revoke_token(self, token_hash: str, now: str) -> None:
        codec.check_ts(now, "now")

        async def work(conn: Conn) -> int:
            rows = await conn.execute_fetchall(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE token_hash = ?"
                " RETURNING 1",
                (now, token_hash),
            )
            return len(list(rows))

        if not await self._transaction("revoke token", work):
            raise NotFoundError("revoke token: unknown token")

    async def revoke_agent_tokens(self, agent_id: str, now: str) -> int:
        codec.check_ts(now, "now")

        async def work(conn: Conn) -> int:
            known = await conn.execute_fetchall("SELECT 1 FROM agents WHERE id = ?", (agent_id,))
            if not list(known):
                raise NotFoundError(f"revoke agent tokens: unknown agent {agent_id!r}")
            rows = await conn.execute_fetchall(
                "UPDATE tokens SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL"
                " RETURNING 1",
                (now, agent_id),
            )
            return len(list(rows))

        return await self._transaction("revoke agent tokens", work)

    async def tokens_revoked_since(self, since: str) -> list[tuple[str, str]]:
        codec.check_ts(since, "since")
        rows = await self._read(
            "SELECT token_hash, agent_id FROM tokens WHERE revoked_at >= ?", [since]
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    # --- visitors ---------------------------------------------------------------------------

    async def add_visitor(self, visitor: VisitorRecord) -> None:
        await self._insert(
            "add visitor", "visitors", codec.VISITOR_COLUMNS, codec.visitor_row(visitor)
        )

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None:
        rows = await self._read(
            f"SELECT {codec.VISITOR_COLUMNS} FROM visitors WHERE id = ?", [visitor_id]
        )
        return codec.visitor_from_row(rows[0]) if rows else None

    async def get_visitor_by_token_hash(self, token_hash: str) -> VisitorRecord | None:
        rows = await self._read(
            f"SELECT {codec.VISITOR_COLUMNS} FROM visitors WHERE token_hash = ?", [token_hash]
        )
        return codec.visitor_from_row(rows[0]) if rows else None

    async def update_visitor(self, visitor_id: str, **fields: Any) -> VisitorRecord:
        changes = codec.visitor_changes(fields)
        row = await self._update(
            "update visitor", "visitors", visitor_id, changes, codec.VISITOR_COLUMNS
        )
        return codec.visitor_from_row(row)

    # --- conversations ----------------------------------------------------------------------

    async def add_conversation(self, conversation: ConversationRecord) -> None:
        await self._insert(
            f"add conversation {conversation.id!r}",
            "conversations",
            codec.CONVERSATION_COLUMNS,
            codec.conversation_row(conversation),
        )

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        rows = await self._read(
            f"SELECT {codec.CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
            [conversation_id],
        )
        return codec.conversation_from_row(rows[0]) if rows else None

    async def list_conversations(
        self,
        *,
        visitor_id: str | None = None,
        agent_id: str | None = None,
        status: str | set[str] | frozenset[str] | None = None,
        limit: int | None = None,
    ) -> list[ConversationRecord]:
        where: list[str] = []
        params: list[Any] = []
        if visitor_id is not None:
            where.append("visitor_id = ?")
            params.append(visitor_id)
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if isinstance(status, str):
            where.append("status = ?")
            params.append(status)
        elif status is not None:
            where.append("status IN (SELECT value FROM json_each(?))")
            params.append(codec.dumps(sorted(status)))
        sql = f"SELECT {codec.CONVERSATION_COLUMNS} FROM conversations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [codec.conversation_from_row(row) for row in await self._read(sql, params)]

    async def update_conversation(self, conversation_id: str, **fields: Any) -> ConversationRecord:
        changes = codec.conversation_changes(fields)
        row = await self._update(
            "update conversation",
            "conversations",
            conversation_id,
            changes,
            codec.CONVERSATION_COLUMNS,
        )
        return codec.conversation_from_row(row)

    # --- routing decisions ------------------------------------------------------------------

    async def add_decision(
        self, conversation_id: str, ts: str, explanation: JSONObject
    ) -> DecisionRecord:
        codec.check_ts(ts)
        text = codec.encode_body(explanation)

        async def work(conn: Conn) -> list[Any]:
            rows = await conn.execute_fetchall(
                "INSERT INTO decisions (conversation_id, ts, explanation) VALUES (?, ?, ?)"
                " RETURNING id",
                (conversation_id, ts, text),
            )
            return list(rows)

        rows = await self._transaction("add decision", work)
        return DecisionRecord(int(rows[0][0]), conversation_id, ts, explanation)

    async def decisions(self, conversation_id: str) -> list[DecisionRecord]:
        rows = await self._read(
            f"SELECT {codec.DECISION_COLUMNS} FROM decisions WHERE conversation_id = ? ORDER BY id",
            [conversation_id],
        )
        return [codec.decision_from_row(row) for row in rows]

    # --- data lifecycle: audit log, purge, deletion requests (see `DataLifecycle`) ----------

    async def add_audit(
        self,
        action: str,
        details: JSONObject,
        *,
        ts: str,
        actor: str,
        actor_id: str | None = None,
    ) -> AuditEntry:
        """Append one entry to the audit log; returns it with its id."""
        codec.check_ts(ts)
        text = codec.encode_body(details)

        async def work(conn: Conn) -> int:
            return await _insert_audit(conn, ts, actor, actor_id, action, text)

        entry_id = await self._transaction("add audit entry", work)
        return AuditEntry(entry_id, ts, actor, action, details, actor_id)

    async def audit_log(
        self, *, action: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries (of one ``action`` if given), newest first."""
        sql = "SELECT id, ts, actor, action, details, actor_id FROM audit_log"
        params: list[Any] = []
        if action is not None:
            sql += " WHERE action = ?"
            params.append(action)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            AuditEntry(row[0], row[1], row[2], row[3], orjson.loads(row[4]), row[5])
            for row in await self._read(sql, params)
        ]

    async def analytics_key(self, name: str) -> bytes:
        """A secret made once per database by migration 0002 (``pseudonym``, ``seal``)."""
        rows = await self._read("SELECT value FROM analytics_keys WHERE name = ?", [name])
        if not rows:
            raise NotFoundError(f"no analytics key {name!r}")
        return bytes.fromhex(rows[0][0])

    async def purge_closed_before(
        self, cutoff: str, *, ts: str, actor: str, actor_id: str | None = None, batch: int = 500
    ) -> PurgeResult:
        """Delete conversations closed before ``cutoff``, ``batch`` per transaction, then the
        visitors left without conversations and not seen since; one audit entry records it."""
        codec.check_ts(cutoff, "cutoff")
        codec.check_ts(ts)
        if batch < 1:
            raise ValueError("batch must be at least 1")
        totals = {"conversations": 0, "events": 0, "visitors": 0}
        audit_id = 0

        async def step(conn: Conn) -> bool:
            nonlocal audit_id
            if not audit_id:  # the record goes in with the first deletions
                details = codec.dumps({"cutoff": cutoff, "state": "started"})
                audit_id = await _insert_audit(conn, ts, actor, actor_id, "purge", details)
            ids = [
                row[0]
                for row in await conn.execute_fetchall(
                    "SELECT id FROM conversations WHERE status = 'closed' AND closed_at < ?"
                    " ORDER BY closed_at LIMIT ?",
                    (cutoff, batch),
                )
            ]
            if ids:
                totals["conversations"] += len(ids)
                totals["events"] += await _delete_conversations(conn, ids)
                await _note_event_deletion(conn, ts)
                if len(ids) == batch:
                    return True  # maybe more: another transaction
            cursor = await conn.execute(
                "DELETE FROM visitors WHERE coalesce(last_seen_at, created_at) < ?"
                " AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.visitor_id = visitors.id)",
                (cutoff,),
            )
            totals["visitors"] += max(cursor.rowcount, 0)
            details = codec.dumps({"cutoff": cutoff, "state": "done", **totals})
            await conn.execute("UPDATE audit_log SET details = ? WHERE id = ?", (details, audit_id))
            return False

        while await self._transaction("purge", step):
            pass
        return PurgeResult(
            cutoff, totals["conversations"], totals["events"], totals["visitors"], audit_id
        )

    async def forget_visitor(
        self, visitor_id: str, *, ts: str, actor: str, actor_id: str | None = None
    ) -> ForgetResult:
        """Delete every trace of one visitor in one transaction, with its audit entry."""
        codec.check_ts(ts)

        async def work(conn: Conn) -> ForgetResult:
            found = bool(
                list(
                    await conn.execute_fetchall(
                        "SELECT 1 FROM visitors WHERE id = ?", (visitor_id,)
                    )
                )
            )
            ids = [
                row[0]
                for row in await conn.execute_fetchall(
                    "SELECT id FROM conversations WHERE visitor_id = ?", (visitor_id,)
                )
            ]
            await conn.execute("PRAGMA secure_delete = ON")
            try:
                events = await _delete_conversations(conn, ids) if ids else 0
                await conn.execute("DELETE FROM visitors WHERE id = ?", (visitor_id,))
            finally:
                await conn.execute("PRAGMA secure_delete = OFF")
            if ids:
                await _note_event_deletion(conn, ts)
            details = codec.dumps(
                {
                    "visitor_id": visitor_id,
                    "found": found,
                    "conversations": len(ids),
                    "events": events,
                }
            )
            audit_id = await _insert_audit(conn, ts, actor, actor_id, "forget_visitor", details)
            return ForgetResult(visitor_id, found, len(ids), events, audit_id)

        result = await self._transaction("forget visitor", work)
        await self._checkpoint()
        return result

    # --- canned responses (agent console) ---------------------------------------------------

    async def list_canned(self, agent_id: str) -> list[CannedResponse]:
        rows = await self._read(
            "SELECT id, owner_id, shortcut, text, created_at FROM canned_responses"
            " WHERE owner_id IN ('', ?) ORDER BY shortcut, owner_id",
            [agent_id],
        )
        return [_canned(row) for row in rows]

    async def get_canned(self, canned_id: int) -> CannedResponse | None:
        rows = await self._read(
            "SELECT id, owner_id, shortcut, text, created_at FROM canned_responses WHERE id = ?",
            [canned_id],
        )
        return _canned(rows[0]) if rows else None

    async def add_canned(
        self, owner_id: str | None, shortcut: str, text: str, *, ts: str
    ) -> CannedResponse:
        codec.check_ts(ts)
        owner = owner_id or ""

        async def work(conn: Conn) -> int:
            cursor = await conn.execute(
                "INSERT INTO canned_responses (owner_id, shortcut, text, created_at)"
                " VALUES (?, ?, ?, ?)",
                (owner, shortcut, text, ts),
            )
            new_id = cursor.lastrowid
            assert new_id is not None
            return new_id

        new_id = await self._transaction(f"add canned response {shortcut!r}", work)
        return CannedResponse(new_id, owner_id or None, shortcut, text, ts)

    async def delete_canned(self, canned_id: int) -> None:
        async def work(conn: Conn) -> int:
            cursor = await conn.execute("DELETE FROM canned_responses WHERE id = ?", (canned_id,))
            return cursor.rowcount

        if not await self._transaction("delete canned response", work):
            raise NotFoundError(f"delete canned response: unknown id {canned_id!r}")

    async def update_canned(self, canned_id: int, shortcut: str, text: str) -> CannedResponse:
        async def work(conn: Conn) -> list[Any]:
            return list(
                await conn.execute_fetchall(
                    "UPDATE canned_responses SET shortcut = ?, text = ? WHERE id = ?"
                    " RETURNING id, owner_id, shortcut, text, created_at",
                    (shortcut, text, canned_id),
                )
            )

        rows = await self._transaction(f"update canned response {shortcut!r}", work)
        if not rows:
            raise NotFoundError(f"update canned response: unknown id {canned_id!r}")
        return _canned(rows[0])

    async def used_tags(self, limit: int = 200) -> list[str]:
        rows = await self._read(
            "SELECT j.value, count(*) AS n FROM conversations, json_each(conversations.tags) AS j"
            " GROUP BY j.value ORDER BY n DESC, j.value LIMIT ?",
            [limit],
        )
        return [str(row[0]) for row in rows]

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database and empty it, so deleted text leaves the WAL too
        (best effort: a reader still inside an old snapshot keeps its frames until it ends)."""
        conn = self._writer
        if conn is None:
            return
        try:
            await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass

    # --- the routing document (admin pages) -------------------------------------------------

    async def get_routing_document(self) -> RoutingDocument | None:
        rows = await self._read(
            "SELECT version, document, updated_at, updated_by FROM routing_document WHERE id = 1"
        )
        if not rows:
            return None
        row = rows[0]
        return RoutingDocument(int(row[0]), orjson.loads(row[1]), row[2], row[3])

    async def put_routing_document(
        self, document: JSONObject, *, expected_version: int, ts: str, by: str | None = None
    ) -> RoutingDocument:
        codec.check_ts(ts)
        text = codec.dumps(document)
        version = expected_version + 1

        async def work(conn: Conn) -> int:
            if expected_version == 0:
                cursor = await conn.execute(
                    "INSERT INTO routing_document (id, version, document, updated_at, updated_by)"
                    " VALUES (1, 1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (text, ts, by),
                )
            else:
                cursor = await conn.execute(
                    "UPDATE routing_document SET version = ?, document = ?, updated_at = ?,"
                    " updated_by = ? WHERE id = 1 AND version = ?",
                    (version, text, ts, by, expected_version),
                )
            return cursor.rowcount

        if await self._transaction("store the routing document", work) != 1:
            raise ConflictError(
                f"the routing document is no longer at version {expected_version}: "
                "someone else changed it; read it again"
            )
        return RoutingDocument(version, document, ts, by)


async def _insert_audit(
    conn: Conn, ts: str, actor: str, actor_id: str | None, action: str, details: str
) -> int:
    rows = await conn.execute_fetchall(
        "INSERT INTO audit_log (ts, actor, actor_id, action, details) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        (ts, actor, actor_id, action, details),
    )
    return int(next(iter(rows))[0])


async def _delete_conversations(conn: Conn, ids: list[str]) -> int:
    """Delete the conversations with their events and decisions; returns the events deleted."""
    key = codec.dumps(ids)
    cursor = await conn.execute(
        "DELETE FROM events WHERE conversation_id IN (SELECT value FROM json_each(?))", (key,)
    )
    events = max(cursor.rowcount, 0)
    await conn.execute(
        "DELETE FROM decisions WHERE conversation_id IN (SELECT value FROM json_each(?))", (key,)
    )
    await conn.execute(
        "DELETE FROM conversations WHERE id IN (SELECT value FROM json_each(?))", (key,)
    )
    return events


async def _note_event_deletion(conn: Conn, ts: str) -> None:
    await conn.execute(
        "INSERT INTO event_deletions (ts, max_rowid_after)"
        " VALUES (?, coalesce((SELECT max(rowid) FROM events), 0))",
        (ts,),
    )


if TYPE_CHECKING:
    _implements: type[Store] = SQLiteStore  # mypy proves SQLiteStore is a whole Store


# --- canned responses (agent console) -------------------------------------------------------


def _canned(row: sqlite3.Row) -> CannedResponse:
    return CannedResponse(int(row[0]), row[1] or None, row[2], row[3], row[4])
