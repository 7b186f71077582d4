"""The router's events → frames for this node's clients (offers, withdrawals, queue
positions, an agent's status changed by the router)."""

from __future__ import annotations

from typing import Any

from chatserver import protocol as p
from routing import TickResult
from tests.core.fakes import NODE, NOW, Socket, World


async def queued(world: World) -> tuple[Socket, str]:
    visitor = await world.visitor("Vera")
    await world.handle(visitor, p.Start(topic="general", language="en"))
    cid = str(visitor.take()[0]["conversation_id"])
    return visitor, cid


def offered(cid: str, node: str = NODE, **extra: Any) -> dict[str, Any]:
    return {
        "type": "offered",
        "offer_id": "o1",
        "conversation_id": cid,
        "agent_id": "id-ann",
        "node": node,
        "deadline": NOW + 20,
        "expires_in_s": 20,
        "topic": "general",
        "language": "en",
        "arrived_at": NOW - 42,
        "meta": {"visitor_name": "Vera", "preview": "help", "page_url": ""},
        **extra,
    }


async def test_an_offer_reaches_the_agents_tabs_on_its_node(world: World) -> None:
    _visitor, cid = await queued(world)
    first, second = world.agent("ann"), world.agent("ann")
    world.hub.on_bus_message("router", offered(cid))
    expected = {
        "type": "offer",
        "offer_id": "o1",
        "conversation": {
            "conversation_id": cid,
            "topic": "general",
            "language": "en",
            "visitor": {"name": "Vera"},
            "waited_s": 42,
            "preview": "help",
            "page_url": None,
        },
        "expires_in_s": 20,
    }
    assert first.take() == [expected] and second.take() == [expected]
    world.hub.on_bus_message("router", offered(cid, node="node-other"))
    assert first.take() == []  # the agent's node tells it


async def test_a_withdrawn_offer_and_the_visitor_followed_again(world: World) -> None:
    _visitor, cid = await queued(world)
    agent = world.agent("ann")
    event = {
        "type": "offer_withdrawn",
        "offer_id": "o1",
        "conversation_id": cid,
        "agent_id": "id-ann",
        "node": NODE,
        "reason": "expired",
    }
    world.hub.on_bus_message("router", event)
    assert agent.take() == [
        {"type": "offer_withdrawn", "offer_id": "o1", "conversation_id": cid, "reason": "expired"}
    ]
    world.router.position_of[cid] = (7, 300)
    assert await world.service.core.positions.refresh(NOW) == 1  # followed: told its place


async def test_queue_event_tells_the_visitors_at_once(world: World) -> None:
    visitor, cid = await queued(world)
    world.hub.on_bus_message(
        "router", {"type": "queue", "conversation_id": cid, "position": 1, "eta_s": 5}
    )
    assert visitor.take() == [{"type": "queue", "conversation_id": cid, "position": 1, "eta_s": 5}]


async def test_positions_go_out_on_the_tick_when_they_change(world: World) -> None:
    visitor, cid = await queued(world)
    world.router.position_of[cid] = (3, 90)
    world.hub.on_bus_message("router", {"type": "requeued", "conversation_id": cid})
    await world.service.on_tick(_tick(), NOW)
    assert visitor.take() == [{"type": "queue", "conversation_id": cid, "position": 3, "eta_s": 90}]


async def test_presence_with_a_reason_is_told_to_the_agent(world: World) -> None:
    agent = world.agent("ann")
    base = {"type": "presence", "agent_id": "id-ann", "status": "away", "node": NODE}
    world.hub.on_bus_message("router", base)  # the agent's own change: acked already
    assert agent.take() == []
    world.hub.on_bus_message("router", {**base, "reason": "missed offers", "auto": True})
    assert agent.take() == [{"type": "status", "status": "away", "reason": "missed offers"}]
    world.hub.on_bus_message("router", {**base, "status": "offline", "reason": "node lost"})
    assert agent.take() == [{"type": "status", "status": "offline"}]


def _tick() -> TickResult:
    return TickResult(expired=[], offers=[], requeued=[], dead_nodes=[])
