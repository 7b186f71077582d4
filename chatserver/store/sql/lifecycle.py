"""The audit log, retention purges and deletion requests (`DataLifecycle`), on either backend.

The conversations a purge or a deletion request removes are read with the dialect's row lock
(``FOR UPDATE`` on PostgreSQL, the lock its group-commit writer takes before appending), so an
append racing the deletion either commits before it (and its event is deleted with the rest)
or finds the conversation gone (`NotFoundError`); on SQLite write transactions run one at a
time and need none.

Deleting a visitor's data runs inside the backend's `_secure_delete` (SQLite overwrites the
freed pages) and is followed by its `_after_delete` (SQLite copies its WAL into the file and
empties it). PostgreSQL has no ``secure_delete``: deleted rows stay in the table files until
VACUUM reclaims the space (autovacuum does, soon after a large deletion).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..base import AuditEntry, ForgetResult, JSONObject, NotFoundError, PurgeResult
from . import _codec as codec
from .dialect import Dialect, Tx
from .part import SQLPart

__all__ = ["LifecyclePart"]


class LifecyclePart(SQLPart):
    """Audit log, purge, forget-visitor."""

    async def add_audit(
        self, action: str, details: JSONObject, *, ts: str, actor: str, actor_id: str | None = None
    ) -> AuditEntry:
        """Append one entry to the audit log; returns it with its id."""
        codec.check_ts(ts)
        text = codec.encode_body(details)

        async def work(tx: Tx) -> int:
            return await _insert_audit(tx, ts, actor, actor_id, action, text)

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
            AuditEntry(int(row[0]), row[1], row[2], row[3], orjson.loads(row[4]), row[5])
            for row in await self._read(sql, params)
        ]

    async def analytics_key(self, name: str) -> bytes:
        """A secret made once per database by a migration (``pseudonym``, ``seal``)."""
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
        d = self.dialect
        totals = {"conversations": 0, "events": 0, "visitors": 0}
        audit_id = 0

        async def step(tx: Tx) -> bool:
            nonlocal audit_id
            if not audit_id:  # the record goes in with the first deletions
                details = codec.dumps({"cutoff": cutoff, "state": "started"})
                audit_id = await _insert_audit(tx, ts, actor, actor_id, "purge", details)
            rows = await tx.fetchall(
                "SELECT id FROM conversations WHERE status = 'closed' AND closed_at < ?"
                f" ORDER BY closed_at, id LIMIT ?{d.for_update}",
                (cutoff, batch),
            )
            ids = [str(row[0]) for row in rows]
            if ids:
                totals["conversations"] += len(ids)
                totals["events"] += await _delete_conversations(tx, d, ids)
                await _note_event_deletion(tx, ts)
                if len(ids) == batch:
                    return True  # maybe more: another transaction
            totals["visitors"] += await tx.execute(
                "DELETE FROM visitors WHERE coalesce(last_seen_at, created_at) < ?"
                " AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.visitor_id = visitors.id)",
                (cutoff,),
            )
            details = codec.dumps({"cutoff": cutoff, "state": "done", **totals})
            await tx.execute("UPDATE audit_log SET details = ? WHERE id = ?", (details, audit_id))
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
        d = self.dialect

        async def work(tx: Tx) -> ForgetResult:
            found = (
                await tx.fetchone(
                    f"SELECT 1 FROM visitors WHERE id = ?{d.for_update}", (visitor_id,)
                )
                is not None
            )
            rows = await tx.fetchall(
                f"SELECT id FROM conversations WHERE visitor_id = ? ORDER BY id{d.for_update}",
                (visitor_id,),
            )
            ids = [str(row[0]) for row in rows]
            async with self._secure_delete(tx):
                events = await _delete_conversations(tx, d, ids) if ids else 0
                await tx.execute("DELETE FROM visitors WHERE id = ?", (visitor_id,))
            if ids:
                await _note_event_deletion(tx, ts)
            details = codec.dumps(
                {
                    "visitor_id": visitor_id,
                    "found": found,
                    "conversations": len(ids),
                    "events": events,
                }
            )
            audit_id = await _insert_audit(tx, ts, actor, actor_id, "forget_visitor", details)
            return ForgetResult(visitor_id, found, len(ids), events, audit_id)

        result = await self._transaction("forget visitor", work)
        await self._after_delete()
        return result


async def _insert_audit(
    tx: Tx, ts: str, actor: str, actor_id: str | None, action: str, details: str
) -> int:
    row = await tx.fetchone(
        "INSERT INTO audit_log (ts, actor, actor_id, action, details) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        (ts, actor, actor_id, action, details),
    )
    assert row is not None
    return int(row[0])


async def _delete_conversations(tx: Tx, d: Dialect, ids: list[str]) -> int:
    """Delete the conversations with their events, decisions, agents and tags; returns the
    events deleted."""
    key = d.list_param(ids)
    events = await tx.execute(f"DELETE FROM events WHERE {d.member_of('conversation_id')}", (key,))
    await tx.execute(f"DELETE FROM decisions WHERE {d.member_of('conversation_id')}", (key,))
    for table in ("conversation_agents", "conversation_tags"):
        await tx.execute(f"DELETE FROM {table} WHERE {d.member_of('conversation_id')}", (key,))
    await tx.execute(f"DELETE FROM conversations WHERE {d.member_of('id')}", (key,))
    return events


async def _note_event_deletion(tx: Tx, ts: str) -> None:
    await tx.execute(
        "INSERT INTO event_deletions (ts, max_rowid_after)"
        " VALUES (?, coalesce((SELECT max(rowid) FROM events), 0))",
        (ts,),
    )
