"""Recovery: chats of agents gone are requeued, waiting conversations routed again, agents
registered again and their offers shown again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import routing
from chatserver import protocol as p
from routing import AgentState, TickResult
from tests.core.fakes import NODE, NOW, Socket, World


async def chat(world: World) -> tuple[Socket, Socket, str]:
    visitor = await world.visitor("Vera")
    await world.handle(visitor, p.Start(topic="general", language="en", text="help"))
    cid = str(visitor.take()[0]["conversation_id"])
    agent = world.agent("ann")
    world.router.offer("o1", cid, "id-ann")
    await world.handle(agent, p.Accept("o1"))
    visitor.take()
    agent.take()
    return visitor, agent, cid


def tick(*requeued: str) -> TickResult:
    return TickResult(expired=[], offers=[], requeued=list(requeued), dead_nodes=[])


async def test_a_chat_whose_agent_is_gone_goes_back_to_the_queue(world: World) -> None:
    visitor, agent, cid = await chat(world)
    await world.service.on_tick(tick(cid, "unknown"), NOW)
    [told] = visitor.take()
    assert told["type"] == "message" and told["from"]["role"] == "system"
    assert told["text"] == "Your agent was disconnected. You are back in the queue."
    conv = world.store.conversations[cid]
    assert (conv.status, conv.agent_id) == ("queued", None)
    assert world.store.log[cid][-1].body["agent_id"] == "id-ann"
    assert agent.held == set()  # the agent's connection sees it leave


async def test_a_closed_chat_is_not_requeued(world: World) -> None:
    visitor, _agent, cid = await chat(world)
    await world.handle(visitor, p.Close(cid))
    visitor.take()
    await world.service.on_tick(tick(cid), NOW)
    assert world.store.kinds(cid)[-1] == "closed" and visitor.take() == []


async def test_resume_routes_a_conversation_the_router_lost(world: World) -> None:
    visitor = await world.visitor("Vera")
    await world.handle(visitor, p.Start(topic="billing", language="en"))
    cid = visitor.take()[0]["conversation_id"]
    world.router.states.clear()  # its start was answered `unavailable` after the store had it
    world.router.position_of.clear()
    await world.handle(visitor, p.Resume(cid, 1))
    *_, request = world.router.called("request")
    assert request[0].conversation_id == cid and request[0].topic == "billing"
    assert request[0].meta["visitor_name"] == "Vera"
    assert visitor.take()[-1] == {
        "type": "queue",
        "conversation_id": cid,
        "position": 1,
        "eta_s": 60,
    }


async def test_requeue_waiting_routes_them_oldest_first(world: World) -> None:
    first = await world.visitor()
    await world.handle(first, p.Start(topic="general", language="en"))
    second = await world.visitor()
    await world.handle(second, p.Start(topic="billing", language="en"))
    ids = [first.take()[0]["conversation_id"], second.take()[0]["conversation_id"]]
    world.router.calls.clear()
    await world.service.recovery.requeue_waiting(NOW)
    assert [r[0].conversation_id for r in world.router.called("request")] == ids


async def test_one_conversation_the_router_refuses_does_not_stop_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failover the router may hold a stored waiting conversation as assigned (its
    accept reached Redis, not yet the store): that one is left, the rest are requeued."""
    first = await world.visitor()
    await world.handle(first, p.Start(topic="general", language="en"))
    second = await world.visitor()
    await world.handle(second, p.Start(topic="billing", language="en"))
    ids = [first.take()[0]["conversation_id"], second.take()[0]["conversation_id"]]
    world.router.calls.clear()
    request = world.router.request

    async def refuse_the_first(req: routing.ConversationRequest, now: float) -> Any:
        if req.conversation_id == ids[0]:
            raise routing.RoutingError(f"conversation {ids[0]} is already assigned")
        return await request(req, now)

    monkeypatch.setattr(world.router, "request", refuse_the_first)
    await world.service.recovery.requeue_waiting(NOW)
    assert [r[0].conversation_id for r in world.router.called("request")] == [ids[1]]


async def test_agents_here_are_registered_again_with_their_chats(world: World) -> None:
    _visitor, _agent, cid = await chat(world)
    await world.handle(world.agent("ann"), p.Status("online"))
    world.router.calls.clear()  # Redis was flushed: the router knows nobody
    await world.service.recovery.reregister_agents(NOW)
    assert world.router.called("restore_assignment") == [(cid, "id-ann")]
    assert world.router.called("set_status") == [("id-ann", "online")]


async def test_a_known_chat_is_not_restored_twice(world: World) -> None:
    _visitor, _agent, cid = await chat(world)
    world.router.agent_states["id-ann"] = AgentState(
        "id-ann", "away", 3, 1, [cid], [], NODE, {"general": 5}, NOW
    )
    world.router.calls.clear()
    status = await world.service.recovery.register_agent(world.store.agents["id-ann"], NOW)
    assert status == "away" and world.router.called("restore_assignment") == []
    assert world.router.called("set_status") == []


async def test_offers_are_shown_again_after_the_bus_reconnects(world: World) -> None:
    visitor = await world.visitor()
    await world.handle(visitor, p.Start(topic="general", language="en"))
    cid = visitor.take()[0]["conversation_id"]
    agent = world.agent("ann")
    world.router.offer("o1", cid, "id-ann", preview="help")
    await world.service.recovery.resend_all_offers()
    [offer] = agent.take()
    assert offer["offer_id"] == "o1" and offer["conversation"]["preview"] == "help"


async def test_what_was_published_while_the_bus_was_down_is_delivered_when_it_is_back(
    world: World,
) -> None:
    """The last events published while the bus was down leave no gap behind them: the refill
    after the bus reconnects fetches them from the store all the same."""
    visitor, _agent, cid = await chat(world)
    # Stored and published by another process; this one's bus was not listening.
    await world.store.append(
        cid,
        "message",
        {"text": "are you there?"},
        ts="2026-11-26T04:05:06.000Z",
        actor_role="agent",
        actor_id="id-ann",
        actor_name="Ann",
        client_id="a-lost",
    )
    assert visitor.take() == []
    await world.hub.refill_all()
    for _ in range(100):
        if visitor.frames:
            break
        await asyncio.sleep(0.01)
    [message] = visitor.take()
    assert message["type"] == "message" and message["client_id"] == "a-lost"
