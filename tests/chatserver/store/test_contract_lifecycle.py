"""The data lifecycle (`DataLifecycle`): audit log, retention purge, deletion requests and the
analytics keys, for every Store (see conftest.STORES). The analytics tests check the same on a
large generated sample, on SQLite's file bytes too."""

from __future__ import annotations

import pytest

from chatserver.store import ConversationRecord, NotFoundError, Store, VisitorRecord

T0 = "2026-03-01T00:00:00.000Z"
CUTOFF = "2026-03-08T00:00:00.000Z"
LATER = "2026-03-09T00:00:00.000Z"


async def closed(store: Store, visitor: str, closed_at: str, messages: int = 2) -> str:
    """A conversation of ``visitor`` (stored as last seen at T0) with ``messages`` messages, a
    routing decision, closed at ``closed_at``."""
    if await store.get_visitor(visitor) is None:
        await store.add_visitor(VisitorRecord(visitor, f"h-{visitor}", "s", T0, last_seen_at=T0))
    cid = f"{visitor}-c{len(await store.list_conversations(visitor_id=visitor))}"
    await store.add_conversation(
        ConversationRecord(cid, visitor, "s", "billing", "en", "queued", T0)
    )
    await store.add_decision(cid, T0, {"step": 0})
    for n in range(messages):
        await store.append(cid, "message", {"text": f"{visitor} {n}"}, ts=T0, actor_role="visitor")
    await store.update_conversation(cid, status="closed", closed_at=closed_at, closed_by="agent")
    return cid


async def test_audit_log_is_newest_first_and_filtered(store: Store) -> None:
    first = await store.add_audit("export_unredacted", {"rows": 3}, ts=T0, actor="cli")
    second = await store.add_audit("login", {}, ts=LATER, actor="ann", actor_id="a1")
    assert first.id < second.id
    assert await store.audit_log() == [second, first]
    assert await store.audit_log(action="export_unredacted") == [first]
    assert await store.audit_log(limit=1) == [second]


async def test_purge_deletes_what_closed_before_the_cutoff(store: Store) -> None:
    old = [await closed(store, f"old{n}", "2026-03-02T00:00:00.000Z") for n in range(5)]
    recent = await closed(store, "recent", LATER)
    await store.add_visitor(VisitorRecord("waiting", "h-waiting", "s", T0, last_seen_at=T0))
    open_one = "waiting-c0"
    await store.add_conversation(
        ConversationRecord(open_one, "waiting", "s", "billing", "en", "queued", T0)
    )
    result = await store.purge_closed_before(CUTOFF, ts=LATER, actor="test", batch=2)
    assert (result.conversations, result.events, result.visitors) == (5, 10, 5)
    for cid in old:
        assert await store.get_conversation(cid) is None
        assert await store.decisions(cid) == []
    assert await store.get_visitor("old0") is None
    assert await store.get_conversation(recent) is not None
    assert len(await store.events(recent)) == 2
    assert await store.get_conversation(open_one) is not None
    assert await store.get_visitor("waiting") is not None  # it has a conversation
    [entry] = await store.audit_log(action="purge")
    assert entry.id == result.audit_id and entry.actor == "test"
    assert entry.details == {
        "cutoff": CUTOFF, "state": "done", "conversations": 5, "events": 10, "visitors": 5,
    }  # fmt: skip
    again = await store.purge_closed_before(CUTOFF, ts=LATER, actor="test")
    assert (again.conversations, again.events, again.visitors) == (0, 0, 0)


async def test_forget_visitor_removes_every_trace_and_is_recorded(store: Store) -> None:
    gone = [await closed(store, "vera", T0, messages=3), await closed(store, "vera", LATER)]
    kept = await closed(store, "other", T0)
    result = await store.forget_visitor("vera", ts=LATER, actor="cli")
    assert (result.visitor_id, result.found, result.conversations, result.events) == (
        "vera", True, 2, 5,
    )  # fmt: skip
    assert await store.get_visitor("vera") is None
    assert await store.get_visitor_by_token_hash("h-vera") is None
    for cid in gone:
        assert await store.get_conversation(cid) is None
        assert await store.decisions(cid) == []
    assert await store.list_conversations(visitor_id="vera") == []
    assert len(await store.events(kept)) == 2
    unknown = await store.forget_visitor("vera", ts=LATER, actor="cli")
    assert (unknown.found, unknown.conversations, unknown.events) == (False, 0, 0)
    entries = await store.audit_log(action="forget_visitor")
    assert [e.id for e in entries] == [unknown.audit_id, result.audit_id]
    assert entries[1].details == {
        "visitor_id": "vera", "found": True, "conversations": 2, "events": 5,
    }  # fmt: skip


async def test_analytics_keys_are_made_once_per_database(store: Store) -> None:
    pseudonym = await store.analytics_key("pseudonym")
    seal = await store.analytics_key("seal")
    assert len(pseudonym) == len(seal) == 32 and pseudonym != seal
    assert await store.analytics_key("pseudonym") == pseudonym
    with pytest.raises(NotFoundError, match="no analytics key"):
        await store.analytics_key("nope")
