"""The audit log, retention purges and deletion requests on SQLite (`DataLifecycle`)."""

from __future__ import annotations

from typing import Any

import orjson

from ..base import AuditEntry, ForgetResult, JSONObject, NotFoundError, PurgeResult
from . import _codec as codec
from .connection import Conn, SQLiteBase

__all__ = ["LifecyclePart"]


class LifecyclePart(SQLiteBase):
    """Audit log, purge, forget-visitor."""

    # --- data lifecycle: audit log, purge, deletion requests (see `DataLifecycle`) ----------

    async def add_audit(
        self, action: str, details: JSONObject, *, ts: str, actor: str, actor_id: str | None = None
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
