"""The facts the append path keeps on a conversation's row from its events (first assignment,
first agent reply, transfers), the agents it was assigned to and the tags it carries, for every
Store: what the figures and the agent and tag filters read instead of the events and the JSON
(issue #23)."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.store import (
    AgentRecord,
    ConversationQuery,
    ConversationRecord,
    Filters,
    NewEvent,
    NotFoundError,
    Store,
    VisitorRecord,
)


def ts(minute: int) -> str:
    return f"2026-11-26T10:{minute:02d}:00.000Z"


async def seeded(store: Store, *cids: str) -> None:
    for agent_id, name in (("a1", "ann"), ("a2", "bob")):
        await store.add_agent(
            AgentRecord(agent_id, name, name.title(), "$argon2id$…", {}, 2, ("agent",), ts(0))
        )
    await store.add_visitor(VisitorRecord("v1", "hash-v1", "default", ts(0)))
    for cid in cids:
        await store.add_conversation(
            ConversationRecord(cid, "v1", "default", "billing", "en", "queued", ts(0))
        )


def facts(store: Store, **filters: str) -> dict[str, tuple[str | None, str | None, int]]:
    """(first_assigned_at, first_response_at, transfers) by conversation, as the figures read
    them; ``filters`` as `Filters` takes them (``agent=``)."""
    with store.snapshot() as snap:
        return {
            row.id: (row.first_assigned_at, row.first_response_at, row.transfers)
            for row in snap.figure_rows(Filters(**filters))  # type: ignore[arg-type]
        }


def assigned(cid: str, agent_id: str, minute: int, offer: str) -> NewEvent:
    return NewEvent(
        cid, "assigned", {"agent_id": agent_id}, ts(minute), "system",
        client_id=f"assigned-{offer}",
        update={"status": "active", "agent_id": agent_id, "last_agent_id": agent_id},
    )  # fmt: skip


def said(cid: str, role: str, minute: int) -> NewEvent:
    return NewEvent(cid, "message", {"text": "hi"}, ts(minute), role)  # type: ignore[arg-type]


async def test_the_earliest_of_each_kind_whatever_the_order_stored(store: Store) -> None:
    await seeded(store, "c1", "c2")
    assert facts(store) == {"c1": (None, None, 0), "c2": (None, None, 0)}
    await store.append_many(
        [said("c1", "visitor", 1), assigned("c1", "a1", 5, "o1"), said("c1", "agent", 7)]
    )
    assert facts(store)["c1"] == (ts(5), ts(7), 0)
    # Stored later with earlier times (one batch, and each on its own): the earliest wins.
    await asyncio.gather(
        store.append_many([assigned("c1", "a2", 3, "o2"), said("c1", "agent", 6)]),
        store.append("c1", "transfer", {"to": "a2"}, ts=ts(8), actor_role="agent"),
        store.append("c2", "transfer", {"to": "a2"}, ts=ts(8), actor_role="agent"),
    )
    await store.append("c1", "transfer", {"to": "a1"}, ts=ts(9), actor_role="agent")
    await store.append("c1", "message", {"text": "later"}, ts=ts(10), actor_role="agent")
    assert facts(store) == {"c1": (ts(3), ts(6), 2), "c2": (None, None, 1)}
    # An event stored before (its client_id again) changes nothing.
    await store.append_many([assigned("c1", "a1", 1, "o1")])
    assert facts(store)["c1"] == (ts(3), ts(6), 2)
    assert set(facts(store, agent="ann")) == {"c1"}
    assert set(facts(store, agent="bob")) == {"c1"}


async def test_a_callers_first_response_at_does_not_undo_the_fact(store: Store) -> None:
    await seeded(store, "c1")
    await store.append("c1", "message", {"text": "a"}, ts=ts(4), actor_role="agent")
    # A caller that thinks there was no reply yet (a stale cache) sends its own time.
    await store.append(
        "c1", "message", {"text": "b"}, ts=ts(9), actor_role="agent",
        update={"first_response_at": ts(9)},
    )  # fmt: skip
    assert facts(store)["c1"] == (None, ts(4), 0)
    conversation = await store.get_conversation("c1")
    assert conversation is not None and conversation.first_response_at == ts(4)


async def test_a_failed_group_leaves_no_fact(store: Store) -> None:
    await seeded(store, "c1", "c2")
    # One batch: c1's group names an unknown agent (a foreign key fails), c2's is fine.
    failing = store.append_many(
        [
            NewEvent("c1", "transfer", {}, ts(2), "agent"),
            said("c1", "agent", 2),
            NewEvent("c1", "assigned", {"agent_id": "a1"}, ts(1), "system",
                     update={"agent_id": "ghost"}),
        ]
    )  # fmt: skip
    fine = store.append_many([assigned("c2", "a2", 3, "o3"), said("c2", "agent", 4)])
    # Queued behind it, most likely in the same batch: counts from what c1 had before.
    after = store.append_many([NewEvent("c1", "transfer", {}, ts(5), "agent")])
    outcome = await asyncio.gather(failing, fine, after, return_exceptions=True)
    assert isinstance(outcome[0], NotFoundError)
    assert not isinstance(outcome[1], BaseException) and not isinstance(outcome[2], BaseException)
    assert facts(store) == {"c1": (None, None, 1), "c2": (ts(3), ts(4), 0)}
    assert set(facts(store, agent="ann")) == set()


async def test_purge_and_forget_take_the_agents_along(store: Store) -> None:
    await seeded(store, "c1", "c2")
    for cid in ("c1", "c2"):
        await store.append_many([assigned(cid, "a1", 1, cid)])
        await store.update_conversation(
            cid, status="closed", closed_at=ts(2) if cid == "c1" else ts(50)
        )
    purged = await store.purge_closed_before(ts(30), ts=ts(59), actor="test")
    assert purged.conversations == 1
    assert set(facts(store, agent="ann")) == {"c2"}
    forgotten = await store.forget_visitor("v1", ts=ts(59), actor="test")
    assert forgotten.conversations == 1
    assert facts(store, agent="ann") == {}


@pytest.mark.parametrize("kind", ["assigned", "transfer"])
async def test_an_unknown_conversation_takes_no_fact(store: Store, kind: str) -> None:
    await seeded(store, "c1")
    with pytest.raises(NotFoundError):
        await store.append("nope", kind, {"agent_id": "a1"}, ts=ts(1), actor_role="system")
    assert facts(store) == {"c1": (None, None, 0)}


async def tagged(store: Store, tag: str) -> list[str]:
    """The dashboard's list filtered by ``tag`` (read through ``conversation_tags``)."""
    page = await store.conversations_page(ConversationQuery(tag=tag))
    assert page.total == len(page.rows)
    return [r.conversation_id for r in page.rows]


async def test_every_write_of_tags_keeps_the_tag_index(store: Store) -> None:
    await seeded(store)
    await store.add_conversation(
        ConversationRecord(
            "c1", "v1", "default", "billing", "en", "queued", ts(1), tags=("vip", "vip", "eu")
        )
    )
    await store.add_conversation(
        ConversationRecord("c2", "v1", "default", "billing", "en", "queued", ts(2))
    )
    assert (await tagged(store, "vip"), await tagged(store, "eu")) == (["c1"], ["c1"])
    # Through an event's update= (the agent console's tagging), in a batch with others.
    await asyncio.gather(
        store.append("c2", "tagged", {}, ts=ts(3), actor_role="agent", update={"tags": ["vip"]}),
        store.append("c1", "tagged", {}, ts=ts(3), actor_role="agent", update={"tags": ["eu"]}),
    )
    assert (await tagged(store, "vip"), await tagged(store, "eu")) == (["c2"], ["c1"])
    await store.update_conversation("c1", tags=["vip", "refund"])
    assert await tagged(store, "vip") == ["c2", "c1"]
    assert (await tagged(store, "eu"), await tagged(store, "refund")) == ([], ["c1"])
    await store.update_conversation("c2", tags=[])
    assert await tagged(store, "vip") == ["c1"]
    with pytest.raises(NotFoundError):
        await store.update_conversation("nope", tags=["vip"])
    # A failed group's tags are not kept (its update names an unknown agent).
    with pytest.raises(NotFoundError):
        await store.append(
            "c2", "tagged", {}, ts=ts(4), actor_role="agent",
            update={"tags": ["vip"], "agent_id": "ghost"},
        )  # fmt: skip
    assert await tagged(store, "vip") == ["c1"]
    forgotten = await store.forget_visitor("v1", ts=ts(59), actor="test")
    assert forgotten.conversations == 2 and await tagged(store, "refund") == []
