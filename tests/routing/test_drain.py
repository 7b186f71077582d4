"""A node draining before a restart: its online agents go away — they keep their chats, get no
new offers, their open offers go to agents of other nodes — and no one else is touched."""

from __future__ import annotations

import redis.asyncio as aioredis

from routing import ConversationRequest, Router, RoutingConfig
from tests.routing.conftest import T0, EventLog, online
from tests.routing.index_check import index_problems

SKILLS = {"general": 1, "en": 1}


def req(cid: str) -> ConversationRequest:
    return ConversationRequest(cid, "general", "en")


async def test_drain_sets_this_nodes_agents_away_and_reroutes_their_offers(
    redis: aioredis.Redis, config: RoutingConfig, events: EventLog
) -> None:
    n1 = Router(redis, config, node_id="n1")
    n2 = Router(redis, config, node_id="n2")
    await n1.heartbeat(T0)
    await n2.heartbeat(T0)
    await online(n1, "a", SKILLS, 5, T0 - 10)
    await online(n1, "gone", SKILLS, 5, T0 - 9)
    await n1.set_status("gone", "away", T0 - 9)
    kept = (await n1.request(req("kept"), T0 + 1)).offer
    assert kept is not None and kept.agent_id == "a"
    await n1.accept(kept.offer_id, "a", T0 + 1)
    await online(n2, "b", SKILLS, 3, T0 + 1)
    chat_b = (await n2.request(req("chat_b"), T0 + 1)).offer
    assert chat_b is not None and chat_b.agent_id == "b"
    await n2.accept(chat_b.offer_id, "b", T0 + 1)
    # a (1/5) has more room than b (1/3): rule 2 picks a.
    pending = (await n2.request(req("pending"), T0 + 2)).offer
    assert pending is not None and pending.agent_id == "a"
    await events.drain()

    assert await n1.drain(T0 + 3) == ["a"]  # "gone" was away already; "b" is n2's

    seen = await events.drain()
    withdrawn = events.of("offer_withdrawn", seen)
    assert [(e["conversation_id"], e["agent_id"], e["reason"]) for e in withdrawn] == [
        ("pending", "a", "agent_away")
    ]
    assert [(e["conversation_id"], e["agent_id"]) for e in events.of("offered", seen)] == [
        ("pending", "b")
    ]
    # No status frame is asked for: the agent's console keeps the status it wants.
    assert [e.get("reason") for e in events.of("presence", seen)] == [None]
    a = await n1.agent("a")
    assert a is not None and (a.status, a.node, a.active, a.reserved) == (
        "away",
        "n1",
        ["kept"],
        [],
    )
    b = await n1.agent("b")
    assert b is not None and (b.status, b.active, b.reserved) == ("online", ["chat_b"], ["pending"])

    # Nothing new reaches a: b takes what it has room for, the rest waits.
    after = await n2.request(req("after"), T0 + 4)
    assert after.offer is not None and after.offer.agent_id == "b"
    waits = await n2.request(req("waits"), T0 + 5)
    assert waits.status == "queued" and waits.offer is None
    await n1.release("kept", T0 + 6)  # room frees on a: still nothing for it
    a = await n1.agent("a")
    assert a is not None and (a.status, a.active, a.reserved) == ("away", [], [])
    assert await index_problems(redis, config, round((T0 + 6) * 1000)) == []
    # A second drain, or one on a node without agents, changes nothing.
    assert await n1.drain(T0 + 7) == []
    assert await Router(redis, config, node_id="n3").drain(T0 + 7) == []


async def test_drain_leaves_an_agent_whose_socket_moved_to_another_node(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    n1 = Router(redis, config, node_id="n1")
    n2 = Router(redis, config, node_id="n2")
    await online(n1, "a", SKILLS, 1, T0)
    await n2.set_status("a", "online", T0 + 1)  # the agent is bound to n2 now
    assert await n1.drain(T0 + 2) == []
    a = await n1.agent("a")
    assert a is not None and (a.status, a.node) == ("online", "n2")
