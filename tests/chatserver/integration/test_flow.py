"""The whole visitor ↔ agent flow of PROTOCOL.md, against a real server process and Redis."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.chatserver.integration.conftest import Hub, add_agent


async def test_whole_flow(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice", display_name="Alice", skills={"billing": 4, "en": 5})
    hub.start_server()
    agent, agent_welcome = await hub.agent("alice")
    assert agent_welcome["agent"]["username"] == "alice"
    assert agent_welcome["agent"]["skills"] == {"billing": 4, "en": 5}
    assert agent_welcome["conversations"] == []

    visitor, welcome = await hub.visitor()
    assert welcome["token"] and welcome["visitor_id"] and welcome["conversations"] == []

    queued = await visitor.request(
        {
            "type": "start",
            "topic": "billing",
            "language": "en-US",
            "name": "Vera",
            "text": "My invoice is wrong",
            "ref": "s1",
        },
        expect="queued",
    )
    assert queued["ref"] == "s1" and queued["position"] >= 0
    conv = queued["conversation_id"]

    offer = await agent.expect("offer")
    assert offer["conversation"] == {
        **offer["conversation"],
        "conversation_id": conv,
        "topic": "billing",
        "language": "en",
        "visitor": {"name": "Vera"},
        "preview": "My invoice is wrong",
    }
    assert 0 < offer["expires_in_s"] <= 30

    assigned = await agent.request(
        {"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned"
    )
    assert assigned["conversation_id"] == conv
    history = await agent.expect("message", conversation_id=conv)
    assert history["text"] == "My invoice is wrong" and history["from"]["role"] == "visitor"

    v_assigned = await visitor.expect("assigned", conversation_id=conv)
    assert v_assigned["agent"] == {"display_name": "Alice"}

    client_id = str(uuid.uuid4())
    ack = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": client_id, "text": "hello?"}
    )
    assert ack["client_id"] == client_id and ack["seq"] > history["seq"] and ack["ts"].endswith("Z")
    mine = await visitor.expect("message", client_id=client_id)
    theirs = await agent.expect("message", client_id=client_id)
    assert mine["seq"] == theirs["seq"] == ack["seq"]
    assert theirs["from"] == {"role": "visitor", "name": "Vera"}

    reply = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a-1", "text": "Hi Vera"}
    )
    got = await visitor.expect("message", client_id="a-1")
    assert got["seq"] == reply["seq"] and got["from"] == {"role": "agent", "name": "Alice"}

    await visitor.send({"type": "typing", "conversation_id": conv, "active": True})
    typing = await agent.expect("typing", conversation_id=conv)
    assert typing["active"] is True
    await agent.send({"type": "read", "conversation_id": conv, "seq": ack["seq"]})
    read = await visitor.expect("read", conversation_id=conv)
    assert read["seq"] == ack["seq"] and read["by"] == {"role": "agent"}

    note_ack = await agent.request(
        {"type": "note", "conversation_id": conv, "text": "VIP customer"}
    )
    note = await agent.expect("note", conversation_id=conv)
    assert note["seq"] == note_ack["seq"] and note["text"] == "VIP customer"
    tag_ack = await agent.request(
        {"type": "tag", "conversation_id": conv, "tags": ["Refund", "invoice"]}
    )
    assert tag_ack["tags"] == ["invoice", "refund"]

    close_ack = await agent.request({"type": "close", "conversation_id": conv})
    v_closed = await visitor.expect("closed", conversation_id=conv)
    a_closed = await agent.expect("closed", conversation_id=conv)
    assert v_closed["by"] == a_closed["by"] == "agent"
    assert v_closed["seq"] == a_closed["seq"] == close_ack["seq"]

    rate_ack = await visitor.request(
        {"type": "rate", "conversation_id": conv, "score": 4, "comment": "quick"}
    )
    assert rate_ack["seq"] > close_ack["seq"]
    again = await visitor.request(
        {"type": "rate", "conversation_id": conv, "score": 5}, expect="error"
    )
    assert again["code"] == "conflict"

    # The visitor never saw the note or the tags: a conversation's frames reach a socket in
    # seq order, and the visitor already has `closed`, which came after both.
    assert not [f for f in visitor.inbox if f["type"] in ("note", "tagged")]
    seen = [f["seq"] for f in visitor.inbox if "seq" in f]
    assert note_ack["seq"] not in seen

    token = await hub.login("alice")
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{hub.server.http}/api/v1/conversations/{conv}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200
    body = r.json()
    assert body["conversation"]["status"] == "closed"
    assert body["conversation"]["rating"] == 4 and body["conversation"]["tags"] == [
        "invoice",
        "refund",
    ]
    seqs = [e["seq"] for e in body["events"]]
    assert seqs == list(range(1, len(seqs) + 1))
    kinds = [e["kind"] for e in body["events"]]
    assert (
        kinds.count("message") == 3
        and "note" in kinds
        and "assigned" in kinds
        and kinds[-1] == "rating"
    )


async def test_start_answers_queued_first_then_offline_when_nobody_is_online(hub: Hub) -> None:
    hub.start_server()
    visitor2, _ = await hub.visitor()
    await visitor2.send({"type": "start", "topic": "billing", "language": "es", "ref": "r2"})
    for _ in range(100):
        if len(visitor2.inbox) >= 2:
            break
        await asyncio.sleep(0.05)
    assert [f["type"] for f in visitor2.inbox[:2]] == ["queued", "offline"]
    assert visitor2.inbox[0]["ref"] == "r2" and visitor2.inbox[0]["eta_s"] is None
    assert visitor2.inbox[1]["conversation_id"] == visitor2.inbox[0]["conversation_id"]


async def test_message_retry_is_stored_and_delivered_once(hub: Hub) -> None:
    await add_agent(hub.data_dir, "bob")
    hub.start_server()
    agent, _ = await hub.agent("bob")
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en"}, expect="queued"
    )
    conv = queued["conversation_id"]
    offer = await agent.expect("offer")
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await visitor.expect("assigned")

    frame = {"type": "message", "conversation_id": conv, "client_id": "retry-1", "text": "once"}
    first = await visitor.request(dict(frame))
    second = await visitor.request(dict(frame))
    third = await visitor.request(dict(frame))
    assert first["seq"] == second["seq"] == third["seq"]
    await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "marker", "text": "after"}
    )
    await agent.expect("message", client_id="marker")
    await visitor.expect("message", client_id="marker")
    assert len(agent.take("message", client_id="retry-1")) == 1
    assert len(visitor.take("message", client_id="retry-1")) == 1
    token = await hub.login("bob")
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{hub.server.http}/api/v1/conversations/{conv}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert [e["client_id"] for e in r.json()["events"]].count("retry-1") == 1
