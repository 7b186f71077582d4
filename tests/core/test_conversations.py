"""The commands both sides send: resume, typing, read, close — and what crosses the bus."""

from __future__ import annotations

import pytest

from chatserver import protocol as p
from tests.core.fakes import TS, Socket, World


async def chat(world: World) -> tuple[Socket, Socket, str]:
    """A visitor and the agent holding its conversation, both subscribed, frames taken."""
    visitor = await world.visitor("Vera")
    await world.handle(visitor, p.Start(topic="general", language="en", text="help"))
    cid = str(visitor.take()[0]["conversation_id"])
    agent = world.agent("ann")
    world.router.offer("o1", cid, "id-ann")
    await world.handle(agent, p.Accept("o1"))
    visitor.take()
    agent.take()
    return visitor, agent, cid


async def test_typing_goes_to_the_other_side_here_and_over_the_bus(world: World) -> None:
    visitor, agent, cid = await chat(world)
    await world.handle(visitor, p.Typing(cid, True))
    typing = {"type": "typing", "conversation_id": cid, "active": True, "by": {"role": "visitor"}}
    assert agent.take() == [typing] and visitor.take() == []
    assert world.bus.relayed() == [typing]
    await world.handle(visitor, p.Typing(cid, False))  # within the interval: folded, later
    assert agent.take() == []


async def test_a_typing_frame_from_another_process_is_relayed_here(world: World) -> None:
    visitor, agent, cid = await chat(world)
    frame = p.frames.typing_object(cid, True, by_role="agent")
    world.hub.on_bus_message("node", {"k": "x", "c": cid, "f": frame, "from": "agent"})
    assert visitor.take() == [frame] and agent.take() == []


async def test_read_is_relayed_and_may_not_run_ahead(world: World) -> None:
    visitor, agent, cid = await chat(world)
    await world.handle(agent, p.Read(cid, 3))
    assert visitor.take() == [
        {"type": "read", "conversation_id": cid, "seq": 3, "by": {"role": "agent"}}
    ]
    with pytest.raises(p.BadFrame, match="seq 9 is ahead"):
        await world.handle(visitor, p.Read(cid, 9))
    assert agent.take() == []


async def test_typing_needs_a_participant(world: World) -> None:
    _visitor, _agent, cid = await chat(world)
    stranger = await world.visitor()
    bob = world.agent("bob")
    analyst = world.agent("ana", roles=("analyst",))
    with pytest.raises(p.NotFound):
        await world.handle(stranger, p.Typing(cid, True))
    with pytest.raises(p.Forbidden, match="not held by you"):
        await world.handle(bob, p.Typing(cid, True))
    with pytest.raises(p.Forbidden, match="analysts"):
        await world.handle(analyst, p.Read(cid, 1))
    assert world.bus.relayed() == []


async def test_the_visitor_closes(world: World) -> None:
    visitor, agent, cid = await chat(world)
    await world.handle(visitor, p.Close(cid, ref="c"))
    closed = {"type": "closed", "conversation_id": cid, "by": "visitor", "seq": 4, "ts": TS}
    ack = {"type": "ack", "conversation_id": cid, "seq": 4, "ts": TS, "ref": "c"}
    assert visitor.take() == [closed, ack] and agent.take() == [closed]
    conv = world.store.conversations[cid]
    assert (conv.status, conv.closed_by, conv.agent_id) == ("closed", "visitor", None)
    assert world.router.called("release") == [(cid,)]  # it was active: the agent is freed
    assert agent.held == set()
    await world.handle(visitor, p.Close(cid, ref="again"))  # answered like the first time
    assert (
        visitor.take() == [{**ack, "ref": "again"}] and world.store.kinds(cid).count("closed") == 1
    )


async def test_closing_a_waiting_conversation_cancels_it(world: World) -> None:
    visitor = await world.visitor()
    await world.handle(visitor, p.Start(topic="general", language="en"))
    cid = visitor.take()[0]["conversation_id"]
    await world.hub.unsubscribe(visitor, cid)  # not subscribed: still told it is closed
    await world.handle(visitor, p.Close(cid))
    ack, closed = visitor.take()
    assert ack["type"] == "ack" and closed == {
        "type": "closed",
        "conversation_id": cid,
        "by": "visitor",
        "seq": 2,
        "ts": TS,
    }
    assert world.router.called("cancel") == [(cid,)]


async def test_the_router_not_knowing_a_closed_conversation_is_fine(world: World) -> None:
    visitor = await world.visitor()
    await world.handle(visitor, p.Start(topic="general", language="en"))
    cid = visitor.take()[0]["conversation_id"]
    world.router.states.clear()  # Redis lost it
    await world.handle(visitor, p.Close(cid))
    assert world.store.conversations[cid].status == "closed"


async def test_only_the_holder_or_the_visitor_may_close(world: World) -> None:
    _visitor, _agent, cid = await chat(world)
    with pytest.raises(p.Forbidden):
        await world.handle(world.agent("bob"), p.Close(cid))
    with pytest.raises(p.NotFound):
        await world.handle(await world.visitor(), p.Close(cid))
    assert world.store.conversations[cid].status == "active"


async def test_resume_replays_what_was_missed(world: World) -> None:
    visitor, agent, cid = await chat(world)
    await world.handle(agent, p.Note(cid, "internal"))
    await world.handle(agent, p.Message(cid, "a1", "hello"))
    again = await world.visitor()
    again.visitor_id = visitor.visitor_id  # the same visitor on a new socket
    await world.handle(again, p.Resume(cid, 2, ref="r"))
    frames = again.take()
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("assigned", 3),
        ("message", 5),  # the note (4) is not the visitor's to see
        ("resumed", None),
    ]
    assert frames[-1] == {"type": "resumed", "conversation_id": cid, "last_seq": 5, "ref": "r"}
    with pytest.raises(p.BadFrame, match="last_seq 9 is ahead"):
        await world.handle(again, p.Resume(cid, 9))


async def test_a_supervisor_may_watch_an_agent_may_not(world: World) -> None:
    _visitor, _agent, cid = await chat(world)
    boss = world.agent("boss", roles=("supervisor",))
    await world.handle(boss, p.Resume(cid, 0))
    assert boss.take()[-1]["type"] == "resumed" and boss.held == set()
    with pytest.raises(p.Forbidden):
        await world.handle(world.agent("bob"), p.Resume(cid, 0))


async def test_resume_while_waiting_tells_the_position(world: World) -> None:
    visitor = await world.visitor()
    await world.handle(visitor, p.Start(topic="general", language="en"))
    cid = visitor.take()[0]["conversation_id"]
    world.router.position_of[cid] = (4, 120)
    await world.handle(visitor, p.Resume(cid, 1))
    assert visitor.take()[-1] == {
        "type": "queue",
        "conversation_id": cid,
        "position": 4,
        "eta_s": 120,
    }


async def test_the_agent_closes_and_lets_go_of_it(world: World) -> None:
    visitor, agent, cid = await chat(world)
    await world.handle(agent, p.Close(cid))
    assert visitor.take()[0] == {
        "type": "closed",
        "conversation_id": cid,
        "by": "agent",
        "seq": 4,
        "ts": TS,
    }
    assert world.store.log[cid][-1].actor_name == "Ann" and agent.held == set()
    assert world.store.conversations[cid].agent_id is None
    with pytest.raises(p.Forbidden, match="not held by you"):
        await world.handle(agent, p.Message(cid, "late", "bye"))


async def test_an_agent_resuming_its_chat_holds_it_again(world: World) -> None:
    _visitor, agent, cid = await chat(world)
    tab = world.agent("ann")  # a new tab of the same agent
    await world.handle(tab, p.Resume(cid, 0))
    assert tab.held == {cid} and tab.take()[-1]["last_seq"] == 3
    assert agent.held == {cid}
