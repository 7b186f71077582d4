"""The audit log, retention purges and deletion requests on PostgreSQL (`DataLifecycle`).

The conversations a purge or a deletion request removes are locked first (``FOR UPDATE``,
the lock the group-commit writer takes before appending), so an append racing the deletion
either commits before it (and its event is deleted with the rest) or finds the conversation
gone (`NotFoundError`). PostgreSQL has no ``secure_delete``: deleted rows stay in the table
files until VACUUM reclaims the space (autovacuum does, soon after a large deletion).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..base import AuditEntry, ForgetResult, JSONObject, NotFoundError, PurgeResult
from ..sqlite import _codec as codec
from .connection import Conn, PostgresBase

__all__ = ["LifecyclePart"]


class LifecyclePart(PostgresBase):
    """Audit log, purge, forget-visitor."""

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
            sql += " WHERE action = %s"
            params.append(action)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [
            AuditEntry(int(row[0]), row[1], row[2], row[3], orjson.loads(row[4]), row[5])
            for row in await self._read(sql, params)
        ]

    async def analytics_key(self, name: str) -> bytes:
        """A secret made once per database by migration 0001 (``pseudonym``, ``seal``)."""
        rows = await self._read("SELECT value FROM analytics_keys WHERE name = %s", [name])
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
            cursor = await conn.execute(
                "SELECT id FROM conversations WHERE status = 'closed' AND closed_at < %s"
                " ORDER BY closed_at, id LIMIT %s FOR UPDATE",
                (cutoff, batch),
            )
            ids = [str(row[0]) for row in await cursor.fetchall()]
            if ids:
                totals["conversations"] += len(ids)
                totals["events"] += await _delete_conversations(conn, ids)
                await _note_event_deletion(conn, ts)
                if len(ids) == batch:
                    return True  # maybe more: another transaction
            cursor = await conn.execute(
                "DELETE FROM visitors WHERE coalesce(last_seen_at, created_at) < %s"
                " AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.visitor_id = visitors.id)",
                (cutoff,),
            )
            totals["visitors"] += max(cursor.rowcount, 0)
            details = codec.dumps({"cutoff": cutoff, "state": "done", **totals})
            await conn.execute(
                "UPDATE audit_log SET details = %s WHERE id = %s", (details, audit_id)
            )
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
            cursor = await conn.execute(
                "SELECT 1 FROM visitors WHERE id = %s FOR UPDATE", (visitor_id,)
            )
            found = await cursor.fetchone() is not None
            cursor = await conn.execute(
                "SELECT id FROM conversations WHERE visitor_id = %s ORDER BY id FOR UPDATE",
                (visitor_id,),
            )
            ids = [str(row[0]) for row in await cursor.fetchall()]
            events = await _delete_conversations(conn, ids) if ids else 0
            await conn.execute("DELETE FROM visitors WHERE id = %s", (visitor_id,))
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

        return await self._transaction("forget visitor", work)


async def _insert_audit(
    conn: Conn, ts: str, actor: str, actor_id: str | None, action: str, details: str
) -> int:
    cursor = await conn.execute(
        "INSERT INTO audit_log (ts, actor, actor_id, action, details)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (ts, actor, actor_id, action, details),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _delete_conversations(conn: Conn, ids: list[str]) -> int:
    """Delete the conversations with their events and decisions; returns the events deleted."""
    cursor = await conn.execute("DELETE FROM events WHERE conversation_id = ANY(%s)", (ids,))
    events = max(cursor.rowcount, 0)
    await conn.execute("DELETE FROM decisions WHERE conversation_id = ANY(%s)", (ids,))
    await conn.execute("DELETE FROM conversations WHERE id = ANY(%s)", (ids,))
    return events


async def _note_event_deletion(conn: Conn, ts: str) -> None:
    await conn.execute(
        "INSERT INTO event_deletions (ts, max_rowid_after)"
        " VALUES (%s, coalesce((SELECT max(rowid) FROM events), 0))",
        (ts,),
    )
