"""Rule 7: hub nodes heartbeat; a dead node's agents go offline, their offers are withdrawn
and, after a grace period, their active chats go back to the queue ahead of new arrivals."""

from __future__ import annotations

import redis.asyncio as aioredis

from routing import ConversationRequest, Router, RoutingConfig
from tests.routing.conftest import T0, EventLog, online


def req(cid: str) -> ConversationRequest:
    return ConversationRequest(cid, "general", "en")


async def two_nodes(redis: aioredis.Redis, config: RoutingConfig) -> tuple[Router, Router]:
    n1 = Router(redis, config, node_id="n1")
    n2 = Router(redis, config, node_id="n2")
    await n1.heartbeat(T0)
    await n2.heartbeat(T0)
    await online(n1, "a", {"general": 1, "en": 1}, 1, T0)
    await online(n2, "b", {"general": 1, "en": 1}, 2, T0 - 5)  # idle longer: offered first
    return n1, n2


async def test_rule7_dead_node_agents_go_offline_and_chats_requeue_after_grace(
    redis: aioredis.Redis, config: RoutingConfig, router: Router, events: EventLog
) -> None:
    n1, _ = await two_nodes(redis, config)
    active = (await n1.request(req("kept"), T0 + 1)).offer
    assert active is not None and active.agent_id == "b"
    await n1.accept(active.offer_id, "b", T0 + 2)
    back = ConversationRequest("pending", "general", "en", preferred_agent="b")
    pending = (await n1.request(back, T0 + 3)).offer
    assert pending is not None and pending.agent_id == "b"
    await n1.heartbeat(T0 + 14.9)  # n2 never heartbeats again
    nothing = await n1.tick(T0 + 14.9)
    assert nothing.dead_nodes == []
    await n1.heartbeat(T0 + 15)
    dead = await n1.tick(T0 + 15)
    assert dead.dead_nodes == ["n2"]
    assert [(o.conversation_id, o.agent_id) for o in dead.offers] == [("pending", "a")]
    await n1.accept(dead.offers[0].offer_id, "a", T0 + 16)
    b = await n1.agent("b")
    assert b is not None and (b.status, b.node, b.active, b.reserved) == (
        "offline",
        None,
        ["kept"],
        [],
    )
    assert await n1.conversation_agent("kept") == "b"  # still b's during the grace period
    new = await n1.request(req("new"), T0 + 20)
    assert new.position == 1
    await n1.heartbeat(T0 + 44.9)
    assert (await n1.tick(T0 + 44.9)).requeued == []
    await n1.heartbeat(T0 + 45)
    requeued = await n1.tick(T0 + 45)
    assert requeued.requeued == ["kept"]
    # Original arrival time: ahead of the conversation that arrived while b was gone.
    assert await n1.position("kept", T0 + 45) == (1, 300)
    assert await n1.position("new", T0 + 45) == (2, 600)
    evs = await events.drain()
    presence = [e for e in events.of("presence", evs) if e["agent_id"] == "b"]
    assert presence[-1] == {
        "type": "presence",
        "agent_id": "b",
        "status": "offline",
        "node": "n2",
        "reason": "node_dead",
        "ts": T0 + 15,
    }
    withdrawn = events.of("offer_withdrawn", evs)
    assert [(e["conversation_id"], e["reason"]) for e in withdrawn] == [
        ("pending", "agent_offline")
    ]
    assert events.of("requeued", evs) == [
        {
            "type": "requeued",
            "conversation_id": "kept",
            "agent_id": "b",
            "reason": "agent_offline",
            "ts": T0 + 45,
        }
    ]
    assert (await n1.stats(T0 + 45))["nodes"] == {"n1": 0}


async def test_rule7_agent_reconnecting_elsewhere_keeps_its_chats(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    n1, _ = await two_nodes(redis, config)
    offer = (await n1.request(req("kept"), T0 + 1)).offer
    assert offer is not None and offer.agent_id == "b"
    await n1.accept(offer.offer_id, "b", T0 + 2)
    await n1.heartbeat(T0 + 15)
    assert (await n1.tick(T0 + 15)).dead_nodes == ["n2"]
    await n1.set_status("b", "online", T0 + 20)  # b's console reconnected to n1
    await n1.heartbeat(T0 + 60)
    assert (await n1.tick(T0 + 60)).requeued == []
    b = await n1.agent("b")
    assert b is not None and (b.status, b.node, b.active) == ("online", "n1", ["kept"])


async def test_rule7_agent_moved_before_its_old_node_died_is_unaffected(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    n1, _ = await two_nodes(redis, config)
    await n1.set_status("b", "online", T0 + 1)
    await n1.heartbeat(T0 + 15)
    assert (await n1.tick(T0 + 15)).dead_nodes == ["n2"]
    b = await n1.agent("b")
    assert b is not None and (b.status, b.node) == ("online", "n1")


async def test_rule7_socket_closed_then_back_as_away(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    offer = (await router.request(req("c1"), T0)).offer
    assert offer is not None
    await router.accept(offer.offer_id, "a", T0)
    assert await router.set_status("a", "offline", T0 + 1) == []
    await router.set_status("a", "away", T0 + 10)  # reconnected; not taking new chats yet
    await router.heartbeat(T0 + 100)
    assert (await router.tick(T0 + 100)).requeued == []
    assert await router.conversation_agent("c1") == "a"
    # Offline for good: requeued after grace_s.
    await router.set_status("a", "offline", T0 + 101)
    await router.heartbeat(T0 + 131)
    assert (await router.tick(T0 + 131)).requeued == ["c1"]
    state = await router.agent("a")
    assert state is not None and (state.load, state.active) == (0, [])
