"""docs/deployment.md's backup and restore, done as it says: ``pg_dump --format=custom`` of a
PostgreSQL store while it is open, ``pg_restore`` into an empty database, and the restored
database is the whole store — every transcript, account and audit entry the same — and carries
on: new events continue each conversation's ``seq``, new rows get fresh ids."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from chatserver.store import (
    AgentRecord,
    ConversationRecord,
    NewEvent,
    Store,
    VisitorRecord,
    iso_now,
    open_store,
)
from tests.support.postgres_server import PostgresServer, postgres_binaries


async def _fill(store: Store) -> None:
    now = iso_now()
    await store.add_agent(
        AgentRecord(
            id="a1", username="ann", display_name="Ann", password_hash="x",
            skills={"general": 3}, capacity=3, roles=("agent",), disabled=False, created_at=now,
        )
    )  # fmt: skip
    for v in range(3):
        await store.add_visitor(
            VisitorRecord(id=f"v{v}", token_hash=f"h{v}", site="default", created_at=now)
        )
        for c in range(2):
            cid = f"v{v}-c{c}"
            await store.add_conversation(
                ConversationRecord(
                    id=cid, visitor_id=f"v{v}", site="default", topic="general",
                    language="en", status="queued", created_at=now,
                )
            )  # fmt: skip
            await store.append_many(
                [
                    NewEvent(cid, "message", {"text": f"{cid} says {n} — ünïcode ✓"}, now,
                             "visitor", client_id=f"{cid}-m{n}")
                    for n in range(5)
                ]
            )  # fmt: skip
    await store.add_audit("export", {"shape": "messages"}, ts=now, actor="ann", actor_id="a1")


async def _everything(store: Store) -> dict[str, object]:
    conversations = await store.list_conversations()
    return {
        "agents": await store.list_agents(),
        "visitors": [await store.get_visitor(f"v{v}") for v in range(3)],
        "conversations": conversations,
        "events": {c.id: await store.events(c.id) for c in conversations},
        "audit": await store.audit_log(),
    }


def _run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


async def test_a_dump_restored_is_the_whole_store_and_carries_on(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    source = postgres_server.create_database(f"live_{uuid.uuid4().hex[:8]}")
    dump = f"{tmp_path}/chat.dump"
    async with open_store(source) as store:
        await _fill(store)
        before = await _everything(store)
        # The dump runs while the store is open and writing, as a nightly backup would.
        _run(str(postgres_binaries() / "pg_dump"), "--format=custom", f"--file={dump}", source)
        late = await store.append("v0-c0", "message", {"text": "after the dump"},
                                  ts=iso_now(), actor_role="visitor")  # fmt: skip
    assert late.seq == 6

    restored = postgres_server.create_database(f"restored_{uuid.uuid4().hex[:8]}")
    _run(str(postgres_binaries() / "pg_restore"), "--no-owner", f"--dbname={restored}", dump)
    async with open_store(restored) as store:
        assert await _everything(store) == before  # the dump's moment: not the later message
        # It carries on: the next event of a conversation takes the next seq, a new audit
        # entry a new id, a client_id stored before the dump is still a duplicate.
        again = await store.append("v0-c0", "message", {"text": "after the restore"},
                                   ts=iso_now(), actor_role="visitor")  # fmt: skip
        assert again.seq == 6
        dup = await store.append("v1-c1", "message", {"text": "resent"}, ts=iso_now(),
                                 actor_role="visitor", client_id="v1-c1-m2")  # fmt: skip
        assert dup.duplicate and dup.seq == 3
        await store.add_audit("purge", {}, ts=iso_now(), actor="cli")
        ids = [entry.id for entry in await store.audit_log()]
        assert len(set(ids)) == len(ids) == 2
