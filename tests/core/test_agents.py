"""An agent's commands on the core: welcome, status, accept, decline, message, note, tag,
transfer — the frames each side receives, and the bad paths that change nothing."""

from __future__ import annotations

import dataclasses

import pytest

from chatserver import protocol as p
from routing import AgentState
from tests.core.fakes import NODE, NOW, TS, Socket, World


async def waiting(world: World, name: str | None = "Vera") -> tuple[Socket, str]:
    visitor = await world.visitor(name)
    await world.handle(visitor, p.Start(topic="general", language="en", text="help"))
    cid = visitor.take()[0]["conversation_id"]
    return visitor, str(cid)


async def assigned(world: World, username: str = "ann") -> tuple[Socket, Socket, str]:
    visitor, cid = await waiting(world)
    agent = world.agent(username)
    world.router.offer("o1", cid, agent.agent_id or "")
    await world.handle(agent, p.Accept("o1"))
    visitor.take()
    agent.take()
    return visitor, agent, cid


async def test_accept_assigns_and_both_sides_hear_it(world: World) -> None:
    visitor, cid = await waiting(world)
    agent = world.agent("ann")
    world.router.offer("o1", cid, "id-ann")
    await world.handle(agent, p.Accept("o1", ref="a1"))
    frames = agent.take()
    assert frames[0] == {
        "type": "assigned",
        "conversation_id": cid,
        "agent": {"display_name": "Ann"},
        "seq": 3,
        "ts": TS,
        "conversation": {
            "conversation_id": cid,
            "topic": "general",
            "language": "en",
            "visitor": {"name": "Vera"},
            "waited_s": 0,
            "preview": "help",
        },
        "ref": "a1",
    }
    assert [f["seq"] for f in frames[1:]] == [2]  # the history, without the assigned again
    assert visitor.take() == [
        {
            "type": "assigned",
            "conversation_id": cid,
            "agent": {"display_name": "Ann"},
            "seq": 3,
            "ts": TS,
        }
    ]
    conv = world.store.conversations[cid]
    assert (conv.status, conv.agent_id, conv.last_agent_id) == ("active", "id-ann", "id-ann")
    assert agent.held == {cid} and len(world.store.decisions) == 1


async def test_accept_again_is_answered_the_same(world: World) -> None:
    visitor, agent, cid = await assigned(world)
    await world.handle(agent, p.Accept("o1", ref="again"))
    assert agent.take()[0]["seq"] == 3 and world.store.kinds(cid).count("assigned") == 1
    assert visitor.take() == [] and len(world.store.decisions) == 1


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ("other", p.Forbidden, "made to another agent"),
        ("expired", p.Conflict, "expired"),
        ("gone", p.Conflict, "no longer open"),
        ("analyst", p.Forbidden, "analysts can read"),
    ],
)
async def test_accept_refused_changes_nothing(
    world: World, setup: str, error: type[p.ProtocolError], message: str
) -> None:
    visitor, cid = await waiting(world)
    agent = world.agent("ann", roles=("analyst",) if setup == "analyst" else ("agent",))
    world.router.offer("o1", cid, "id-bob" if setup == "other" else "id-ann")
    if setup == "expired":
        world.router.expired.add("o1")
        del world.router.offers["o1"]
    if setup == "gone":
        del world.router.offers["o1"]
    with pytest.raises(error, match=message):
        await world.handle(agent, p.Accept("o1"))
    assert world.store.kinds(cid) == ["start", "message"]
    assert world.store.conversations[cid].status == "queued" and agent.held == set()
    assert agent.take() == [] and visitor.take() == []


async def test_accept_after_the_session_ended_is_unauthorized(world: World) -> None:
    _visitor, cid = await waiting(world)
    agent = world.agent("ann")
    world.router.offer("o1", cid, "id-ann")

    async def ended(_client: object) -> bool:
        return False

    world.service.session_alive = ended
    with pytest.raises(p.Unauthorized):
        await world.handle(agent, p.Accept("o1"))
    assert world.router.called("accept") == [] and "o1" in world.router.offers


async def test_decline(world: World) -> None:
    _visitor, cid = await waiting(world)
    agent = world.agent("ann")
    world.router.offer("o1", cid, "id-ann")
    await world.handle(agent, p.Decline("o1", ref="d"))
    assert agent.take() == [{"type": "ack", "offer_id": "o1", "ref": "d"}]
    with pytest.raises(p.Conflict, match="no longer open"):
        await world.handle(agent, p.Decline("o1"))


async def test_status_is_acked_and_told_to_every_tab(world: World) -> None:
    first, second = world.agent("ann"), world.agent("ann")
    await world.handle(first, p.Status("online", ref="s"))
    assert first.take() == [
        {"type": "ack", "status": "online", "ref": "s"},
        {"type": "status", "status": "online"},
    ]
    assert second.take() == [{"type": "status", "status": "online"}]
    assert world.router.called("set_status") == [("id-ann", "online")]
    assert world.hub.agent_status("id-ann", "?") == "online"


async def test_an_analyst_may_not_go_online(world: World) -> None:
    analyst = world.agent("ana", roles=("analyst",))
    with pytest.raises(p.Forbidden):
        await world.handle(analyst, p.Status("online"))
    assert world.router.calls == [] and analyst.take() == []


async def test_welcome_registers_the_agent_and_shows_its_offers(world: World) -> None:
    _visitor, cid = await waiting(world)
    agent = world.agent("ann")
    world.router.agent_states["id-ann"] = AgentState(
        "id-ann", "online", 3, 0, [], [], NODE, {"general": 5}, NOW
    )
    world.router.offer("o1", cid, "id-ann", visitor_name="Vera", page_url="https://s/p")
    await world.service.agents.welcome(agent, "h")
    welcome, offer = agent.take()
    assert welcome["type"] == "welcome" and welcome["status"] == "online"
    assert welcome["agent"]["username"] == "ann" and welcome["ref"] == "h"
    assert offer == {
        "type": "offer",
        "offer_id": "o1",
        "conversation": {
            "conversation_id": cid,
            "topic": "general",
            "language": "en",
            "visitor": {"name": "Vera"},
            "waited_s": 30,
            "preview": None,
            "page_url": "https://s/p",
        },
        "expires_in_s": 20,
    }
    assert ("upsert_agent", ("id-ann", {"general": 5}, 3)) in world.router.calls
    assert world.router.called("set_status") == []  # already online: left as it is


async def test_an_agent_message_reaches_the_visitor(world: World) -> None:
    visitor, agent, cid = await assigned(world)
    await world.handle(agent, p.Message(cid, "a1", "hi there", ref="m"))
    ack, echo = agent.take()
    assert ack == {"type": "ack", "client_id": "a1", "seq": 4, "ts": TS, "ref": "m"}
    assert visitor.take() == [echo] and echo["from"] == {"role": "agent", "name": "Ann"}
    assert world.store.conversations[cid].first_response_at == TS


async def test_only_the_holder_may_write(world: World) -> None:
    _visitor, _ann, cid = await assigned(world)
    bob = world.agent("bob")
    for command in (p.Message(cid, "b1", "hi"), p.Note(cid, "x"), p.Tag(cid, ("vip",))):
        with pytest.raises(p.Forbidden, match="not held by you"):
            await world.handle(bob, command)
    with pytest.raises(p.NotFound):
        await world.handle(bob, p.Note("nope", "x"))
    assert world.store.kinds(cid) == ["start", "message", "assigned"] and bob.take() == []


async def test_a_note_goes_to_agents_only(world: World) -> None:
    visitor, agent, cid = await assigned(world)
    await world.handle(agent, p.Note(cid, "VIP", ref="n"))
    note, ack = agent.take()
    assert note == {
        "type": "note",
        "conversation_id": cid,
        "seq": 4,
        "from": {"role": "agent", "name": "Ann"},
        "text": "VIP",
        "ts": TS,
    }
    assert ack == {"type": "ack", "conversation_id": cid, "seq": 4, "ts": TS, "ref": "n"}
    assert visitor.take() == []


async def test_tag_acks_the_whole_set(world: World) -> None:
    visitor, agent, cid = await assigned(world)
    await world.handle(agent, p.Tag(cid, ("vip", "refund")))
    agent.take()
    await world.handle(agent, p.Tag(cid, ("late",), remove=("vip",), ref="t"))
    tagged, ack = agent.take()
    assert tagged["type"] == "tagged" and tagged["tags"] == ["late", "refund"]
    assert ack == {
        "type": "ack",
        "conversation_id": cid,
        "seq": 5,
        "ts": TS,
        "tags": ["late", "refund"],
        "ref": "t",
    }
    with pytest.raises(p.NotFound, match="has no tag 'vip' to remove"):
        await world.handle(agent, p.Tag(cid, (), remove=("vip",)))
    assert world.store.conversations[cid].tags == ("late", "refund") and visitor.take() == []


async def test_transfer_to_a_topic(world: World) -> None:
    visitor, agent, cid = await assigned(world)
    other_tab = world.agent("ann")
    await world.hub.subscribe(other_tab, cid, 4)
    other_tab.held.add(cid)
    await world.handle(agent, p.Transfer(cid, to_topic="billing", ref="t"))
    transferred, ack = agent.take()
    assert transferred["type"] == "transferred" and transferred["to_topic"] == "billing"
    assert ack == {"type": "ack", "conversation_id": cid, "seq": 4, "ts": TS, "ref": "t"}
    [told] = visitor.take()
    assert told["type"] == "message" and told["from"] == {"role": "system", "name": None}
    assert told["text"] == "You are being transferred to another agent."
    conv = world.store.conversations[cid]
    assert (conv.status, conv.agent_id, conv.topic) == ("queued", None, "billing")
    for tab in (agent, other_tab):  # the chat left this agent: its tabs stop receiving it
        assert cid not in tab.held and not world.hub.is_subscribed(tab, cid)


async def test_transfer_refused(world: World) -> None:
    _visitor, agent, cid = await assigned(world)
    world.agent("bob")
    world.router.unavailable.add("id-bob")
    with pytest.raises(p.Conflict, match="already hold"):
        await world.handle(agent, p.Transfer(cid, to_agent="ann"))
    with pytest.raises(p.NotFound, match="no agent 'zed'"):
        await world.handle(agent, p.Transfer(cid, to_agent="zed"))
    with pytest.raises(p.BadFrame, match="to_topic 'gone'"):
        await world.handle(agent, p.Transfer(cid, to_topic="gone"))
    with pytest.raises(p.Conflict, match="has no room"):
        await world.handle(agent, p.Transfer(cid, to_agent="bob"))
    assert world.store.conversations[cid].status == "active" and agent.held == {cid}
    assert world.store.kinds(cid) == ["start", "message", "assigned"]


def test_the_clock_is_the_worlds(world: World) -> None:
    assert world.service.core.now() == NOW


async def test_an_old_accept_of_a_chat_that_moved_on_is_refused(world: World) -> None:
    visitor, agent, cid = await assigned(world)
    await world.handle(visitor, p.Close(cid))
    agent.take()
    with pytest.raises(p.Conflict, match="accepted earlier; that chat has moved on"):
        await world.handle(agent, p.Accept("o1"))
    assert world.store.kinds(cid).count("assigned") == 1 and agent.take() == []


async def test_a_chat_that_is_not_active_cannot_be_transferred(world: World) -> None:
    _visitor, agent, cid = await assigned(world)
    # A closed record that still names its agent: the one case agent_conversation lets through.
    conv = world.store.conversations[cid]
    world.store.conversations[cid] = dataclasses.replace(conv, status="closed")
    with pytest.raises(p.Conflict, match="only active chats can be transferred"):
        await world.handle(agent, p.Transfer(cid, to_topic="billing"))
    assert world.router.called("transfer") == []
