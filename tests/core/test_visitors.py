"""A visitor's commands on the core: the hello's identity, start, message, rate, leave_message."""

from __future__ import annotations

import pytest

from chatserver import protocol as p
from chatserver.core.accounts import token_hash
from tests.core.fakes import TS, Socket, World


async def started(world: World, visitor: Socket, **start: str) -> str:
    await world.handle(visitor, p.Start(topic="general", language="en", **start))
    frames = visitor.take()
    assert frames[0]["type"] == "queued"
    return str(frames[0]["conversation_id"])


async def test_start_answers_queued_stores_and_routes(world: World) -> None:
    visitor = await world.visitor("Vera")
    await world.handle(
        visitor,
        p.Start(
            topic="billing", language="en", text="my invoice", page_url="https://s/p", ref="s1"
        ),
    )
    queued, first = visitor.take()  # then what is stored so far: the first message
    cid = queued["conversation_id"]
    assert (first["type"], first["seq"], first["text"]) == ("message", 2, "my invoice")
    assert queued == {
        "type": "queued",
        "conversation_id": cid,
        "position": 1,
        "eta_s": 60,
        "ref": "s1",
    }
    conv = world.store.conversations[cid]
    assert (conv.status, conv.topic, conv.page_url) == ("queued", "billing", "https://s/p")
    assert world.store.kinds(cid) == ["start", "message"]
    [(request,)] = world.router.called("request")
    assert request.meta == {
        "visitor_name": "Vera",
        "preview": "my invoice",
        "page_url": "https://s/p",
    }
    assert world.hub.is_subscribed(visitor, cid)  # and so it hears the assignment


async def test_start_with_nobody_online_also_says_offline(world: World) -> None:
    world.router.agents_online = 0
    visitor = await world.visitor()
    await world.handle(visitor, p.Start(topic="general", language="es"))
    queued, offline = visitor.take()
    assert offline == {
        "type": "offline",
        "conversation_id": queued["conversation_id"],
        "topic": "general",
        "language": "es",
    }


async def test_a_new_visitor_is_stored_with_its_first_conversation(world: World) -> None:
    socket = Socket("visitor")
    created = world.service.visitors.new_visitor(socket, "demo", 0.0)
    socket.visitor_id = created.id
    assert created.id not in world.store.visitors  # a hello alone stores nothing
    assert await world.service.visitors.known_visitor(created.token) is None
    await started(world, socket)
    assert world.store.visitors[created.id].site == "demo"
    assert await world.service.visitors.known_visitor(created.token) == created.id
    assert world.store.visitors[created.id].token_hash == token_hash(created.token)


async def test_welcome_lists_the_visitors_conversations(world: World) -> None:
    visitor = await world.visitor()
    cid = await started(world, visitor)
    assert visitor.visitor_id is not None
    await world.service.visitors.welcome(visitor, visitor.visitor_id, "tok", "h1")
    assert visitor.take() == [
        {
            "type": "welcome",
            "visitor_id": visitor.visitor_id,
            "token": "tok",
            "conversations": [{"conversation_id": cid, "status": "queued", "last_seq": 1}],
            "ref": "h1",
        }
    ]


async def test_start_with_a_topic_no_longer_offered_changes_nothing(world: World) -> None:
    visitor = await world.visitor()
    with pytest.raises(p.BadFrame, match="topic 'gone' is not offered"):
        await world.handle(visitor, p.Start(topic="gone", language="en"))
    with pytest.raises(p.BadFrame, match="language 'xx'"):
        await world.handle(visitor, p.Start(topic="general", language="xx"))
    assert world.store.conversations == {} and world.router.calls == [] and visitor.take() == []


async def test_a_second_open_conversation_is_refused(world: World) -> None:
    visitor = await world.visitor()
    cid = await started(world, visitor)
    with pytest.raises(p.Conflict, match=f"conversation {cid} is still open"):
        await world.handle(visitor, p.Start(topic="billing", language="en"))
    assert list(world.store.conversations) == [cid] and len(world.router.called("request")) == 1


async def test_the_same_start_again_finishes_the_first(world: World) -> None:
    visitor = await world.visitor()
    cid = await started(world, visitor)
    assert await started(world, visitor) == cid  # a retry after `unavailable`
    assert world.store.kinds(cid) == ["start"]  # stored once
    assert len(world.router.called("request")) == 2  # routing is idempotent


async def test_a_message_is_acked_then_fanned_out(world: World) -> None:
    visitor = await world.visitor("Vera")
    cid = await started(world, visitor)
    agent = world.agent("ann")
    await world.hub.subscribe(agent, cid, 0)
    agent.take()
    await world.handle(visitor, p.Message(cid, "u1", "hello", ref="m1"))
    ack, echo = visitor.take()
    assert ack == {"type": "ack", "client_id": "u1", "seq": 2, "ts": TS, "ref": "m1"}
    expected = {
        "type": "message",
        "conversation_id": cid,
        "seq": 2,
        "client_id": "u1",
        "from": {"role": "visitor", "name": "Vera"},
        "text": "hello",
        "ts": TS,
    }
    assert echo == expected and agent.take() == [expected]
    assert ("e" in world.bus.published[-1][1]) and world.bus.published[-1][0] == cid


async def test_a_message_sent_twice_is_stored_and_fanned_out_once(world: World) -> None:
    visitor = await world.visitor()
    cid = await started(world, visitor)
    await world.handle(visitor, p.Message(cid, "u1", "hello"))
    visitor.take()
    published = len(world.bus.published)
    await world.handle(visitor, p.Message(cid, "u1", "hello", ref="again"))
    assert visitor.take() == [
        {"type": "ack", "client_id": "u1", "seq": 2, "ts": TS, "ref": "again"}
    ]
    assert world.store.kinds(cid) == ["start", "message"] and len(world.bus.published) == published


async def test_a_message_to_someone_elses_or_a_closed_conversation(world: World) -> None:
    owner = await world.visitor()
    cid = await started(world, owner)
    stranger = await world.visitor()
    with pytest.raises(p.NotFound, match="for this visitor"):
        await world.handle(stranger, p.Message(cid, "u1", "hi"))
    with pytest.raises(p.NotFound):
        await world.handle(stranger, p.Message("nope", "u1", "hi"))
    await world.handle(owner, p.Close(cid))
    owner.take()
    with pytest.raises(p.Conflict, match="is closed"):
        await world.handle(owner, p.Message(cid, "u2", "hi"))
    assert world.store.kinds(cid) == ["start", "closed"] and stranger.take() == []


async def test_rate_only_once_and_only_when_closed(world: World) -> None:
    visitor = await world.visitor()
    cid = await started(world, visitor)
    with pytest.raises(p.Conflict, match="not closed yet"):
        await world.handle(visitor, p.Rate(cid, 5))
    await world.handle(visitor, p.Close(cid))
    visitor.take()
    await world.handle(visitor, p.Rate(cid, 4, "ok", ref="r"))
    assert visitor.take() == [
        {"type": "ack", "conversation_id": cid, "seq": 3, "ts": TS, "ref": "r"}
    ]
    assert world.store.conversations[cid].rating == 4
    with pytest.raises(p.Conflict, match="already rated"):
        await world.handle(visitor, p.Rate(cid, 1))
    assert world.store.kinds(cid) == ["start", "closed", "rating"]


async def test_leave_message_joins_the_waiting_conversation(world: World) -> None:
    world.router.agents_online = 0
    visitor = await world.visitor()
    cid = await started(world, visitor)
    visitor.take()
    await world.handle(
        visitor,
        p.LeaveMessage("general", "en", "call me", "v@example.com", "Vic", cid, ref="l"),
    )
    echo, ack = visitor.take()  # fanned out (to the sender too), then acked
    assert (echo["type"], echo["seq"], echo["client_id"]) == ("message", 2, f"leave-{cid}")
    assert ack == {"type": "ack", "conversation_id": cid, "seq": 2, "ts": TS, "ref": "l"}
    assert world.store.log[cid][-1].body == {
        "text": "call me",
        "left_message": True,
        "email": "v@example.com",
    }
    assert visitor.visitor_id is not None
    stored = world.store.visitors[visitor.visitor_id]
    assert (stored.name, stored.email) == ("Vic", "v@example.com")


async def test_leave_message_without_a_conversation_starts_one(world: World) -> None:
    visitor = await world.visitor()
    await world.handle(
        visitor, p.LeaveMessage("billing", "en", "call me", "v@example.com", ref="l")
    )
    queued = visitor.take()[0]
    assert queued["type"] == "queued" and queued["ref"] == "l"
    assert world.store.kinds(queued["conversation_id"]) == ["start", "message"]


async def test_a_visitor_may_not_send_agent_commands(world: World) -> None:
    assert world.service.handler("visitor", p.Accept) is None
    assert world.service.handler("visitor", p.Note) is None
    assert world.service.handler("agent", p.Start) is None
