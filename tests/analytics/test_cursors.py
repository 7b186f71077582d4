"""Incremental export cursors on PostgreSQL: writers commit in any order, and `after` still
misses nothing.

Identity values are handed out at insert, not at commit: a transaction holding an event with a
lower rowid may commit after a snapshot saw a higher one. The cursor is the snapshot's oldest
running transaction (``pg_snapshot_xmin``), and every event records the transaction that
wrote it, so the next export takes that conversation.
"""

from __future__ import annotations

import asyncio

import orjson
import psycopg

from chatserver.store import ConversationRecord, Filters, VisitorRecord, iso_now, open_store

from .helpers import export_bytes, jsonl


async def _two_conversations(url: str) -> None:
    async with open_store(url) as store:
        await store.add_visitor(
            VisitorRecord(id="v1", token_hash="h-v1", site="default", created_at=iso_now())
        )
        for cid in ("c-slow", "c-fast"):
            await store.add_conversation(
                ConversationRecord(
                    id=cid, visitor_id="v1", site="default", topic="general", language="en",
                    status="queued", created_at=iso_now(),
                )
            )  # fmt: skip
            await store.append(
                cid, "start", {"topic": "general", "language": "en"}, ts=iso_now(),
                actor_role="visitor", actor_id="v1",
            )  # fmt: skip


async def _append(url: str, cid: str, text: str) -> None:
    async with open_store(url) as store:
        await store.append(cid, "message", {"text": text}, ts=iso_now(), actor_role="visitor")


def _ids(data: bytes) -> set[str]:
    return {d["conversation"]["conversation_id"] for d in jsonl(data)}


def test_an_event_committed_after_the_snapshot_with_a_lower_id_is_not_missed(
    postgres_url: str,
) -> None:
    asyncio.run(_two_conversations(postgres_url))
    _, first = export_bytes(postgres_url, "jsonl")
    assert first.stats.conversations == 2 and str(first.cursor).startswith("pg1.")

    # A writer stores an event in c-slow and holds its transaction open (as a hub process
    # in the middle of a group commit does) ...
    slow = psycopg.connect(postgres_url)
    try:
        (seq,) = slow.execute(
            "SELECT last_seq + 1 FROM conversations WHERE id = 'c-slow' FOR UPDATE"
        ).fetchone() or (0,)
        (slow_rowid,) = slow.execute(
            "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, body)"
            " VALUES ('c-slow', %s, %s, 'message', 'visitor', %s) RETURNING rowid",
            (seq, iso_now(), orjson.dumps({"text": "late"}).decode()),
        ).fetchone() or (0,)
        slow.execute("UPDATE conversations SET last_seq = %s WHERE id = 'c-slow'", (seq,))
        # ... while another commits an event with a higher id, and an export runs.
        asyncio.run(_append(postgres_url, "c-fast", "quick"))
        seen, middle = export_bytes(postgres_url, "jsonl", filters=Filters(after=first.cursor))
        assert _ids(seen) == {"c-fast"}
        with psycopg.connect(postgres_url) as look:
            (fast_rowid,) = look.execute(
                "SELECT max(rowid) FROM events WHERE conversation_id = 'c-fast'"
            ).fetchone() or (0,)
        # A rowid mark would say "seen up to fast_rowid" and skip the slow event for good.
        assert slow_rowid < fast_rowid
        slow.commit()
    finally:
        slow.close()

    later, _ = export_bytes(postgres_url, "jsonl", filters=Filters(after=middle.cursor))
    assert "c-slow" in _ids(later)
    doc = next(d for d in jsonl(later) if d["conversation"]["conversation_id"] == "c-slow")
    assert doc["events"][-1]["body"] == {"text": "late"}
    # Once every writer has finished, the cursor moves past them all.
    _, settled = export_bytes(postgres_url, "jsonl")
    nothing, _ = export_bytes(postgres_url, "jsonl", filters=Filters(after=settled.cursor))
    assert nothing == b""
