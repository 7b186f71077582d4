"""Disconnects mid-conversation: both sides resume and see every event exactly once, in order."""

from __future__ import annotations

from typing import Any

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import assert_exactly_once_in_order, open_chat
from tests.support.peer import Peer


async def _messages(peer: Peer, conv: str, until_client_id: str) -> list[dict[str, Any]]:
    await peer.expect("message", client_id=until_client_id, timeout=10)
    return [
        f for f in peer.inbox if f.get("type") == "message" and f.get("conversation_id") == conv
    ]


async def test_visitor_drops_while_agent_writes_and_resumes(hub: Hub) -> None:
    await add_agent(hub.data_dir, "carol")
    hub.start_server()
    agent, _ = await hub.agent("carol")
    visitor, token, conv = await open_chat(hub, agent)
    a1 = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a1", "text": "one"}
    )
    await visitor.expect("message", client_id="a1")
    last_seen = a1["seq"]
    await visitor.close()

    sent = []
    for i in range(2, 7):
        sent.append(
            (
                await agent.request(
                    {
                        "type": "message",
                        "conversation_id": conv,
                        "client_id": f"a{i}",
                        "text": str(i),
                    }
                )
            )["seq"]
        )

    visitor2, welcome = await hub.visitor(token=token)
    assert welcome["conversations"][0]["conversation_id"] == conv
    assert welcome["conversations"][0]["last_seq"] == sent[-1]
    resumed = await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": last_seen}, expect="resumed"
    )
    assert resumed["last_seq"] == sent[-1]
    got = visitor2.take("message")
    assert [f["seq"] for f in got] == sent
    assert [f["client_id"] for f in got] == [f"a{i}" for i in range(2, 7)]

    # Live delivery continues after the resume, still exactly once.
    more = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a7", "text": "7"}
    )
    live = await visitor2.expect("message", client_id="a7")
    assert live["seq"] == more["seq"]
    # A last message as a barrier: frames reach a socket in seq order, so once it is here any
    # duplicate of an earlier one would be too.
    last = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a8", "text": "8"}
    )
    await visitor2.expect("message", client_id="a8")
    rest = [f["seq"] for f in visitor2.take("message")]
    assert_exactly_once_in_order([f["seq"] for f in got] + [live["seq"]] + rest + [last["seq"]])


async def test_agent_drops_while_visitor_writes_and_resumes(hub: Hub) -> None:
    await add_agent(hub.data_dir, "dave")
    hub.start_server()
    agent, _ = await hub.agent("dave")
    visitor, _, conv = await open_chat(hub, agent)
    v1 = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "v1", "text": "one"}
    )
    await agent.expect("message", client_id="v1")
    await agent.close()
    seqs = [
        (
            await visitor.request(
                {"type": "message", "conversation_id": conv, "client_id": f"v{i}", "text": str(i)}
            )
        )["seq"]
        for i in range(2, 6)
    ]

    agent2, welcome = await hub.agent("dave", online=False)
    held = {c["conversation_id"]: c for c in welcome["conversations"]}
    assert held[conv]["status"] == "active" and held[conv]["last_seq"] == seqs[-1]
    await agent2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": v1["seq"]}, expect="resumed"
    )
    got = [f for f in agent2.inbox if f.get("type") == "message"]
    assert [f["seq"] for f in got] == seqs
    reply = await agent2.request(
        {"type": "message", "conversation_id": conv, "client_id": "back", "text": "I'm back"}
    )
    seen = await visitor.expect("message", client_id="back")
    assert seen["seq"] == reply["seq"]


async def test_both_drop_and_interleave(hub: Hub) -> None:
    await add_agent(hub.data_dir, "erin")
    hub.start_server()
    agent, _ = await hub.agent("erin")
    visitor, token, conv = await open_chat(hub, agent)
    for round_ in range(3):
        await visitor.close()
        await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": f"a-{round_}", "text": "x"}
        )
        visitor, _ = await hub.visitor(token=token)
        await visitor.request(
            {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
        )
        await visitor.request(
            {"type": "message", "conversation_id": conv, "client_id": f"v-{round_}", "text": "y"}
        )
        await agent.expect("message", client_id=f"v-{round_}")
    final = [f for f in visitor.inbox if "seq" in f and f.get("type") != "ack"]
    seqs = [f["seq"] for f in final]
    assert_exactly_once_in_order(seqs)
    assert {f.get("client_id") for f in final if f["type"] == "message"} >= {
        "a-0",
        "a-1",
        "a-2",
        "v-2",
    }


async def test_resume_rejects_foreign_and_future(hub: Hub) -> None:
    await add_agent(hub.data_dir, "fay")
    hub.start_server()
    agent, _ = await hub.agent("fay")
    _, _, conv = await open_chat(hub, agent)
    stranger, _ = await hub.visitor()
    err = await stranger.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="error"
    )
    assert err["code"] == "not_found"
    err = await stranger.request(
        {"type": "message", "conversation_id": conv, "client_id": "x", "text": "hi"}, expect="error"
    )
    assert err["code"] == "not_found"
    await agent.request({"type": "resume", "conversation_id": conv, "last_seq": 99}, expect="error")
