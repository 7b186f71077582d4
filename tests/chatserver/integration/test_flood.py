"""Frames that cost the hub but are not stored — `read` and `typing` — cannot flood the other
side: a visitor sending thousands is refused by the rate limit and then disconnected (4429),
and what reaches the agent is a handful, the highest `seq` last; the agent's socket is fine."""

from __future__ import annotations

import time

import pytest

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import open_chat


@pytest.mark.parametrize("kind", ["read", "typing"])
async def test_a_flood_of_ephemeral_frames_is_refused_and_coalesced(hub: Hub, kind: str) -> None:
    await add_agent(hub.data_dir, "max")
    hub.start_server()
    agent, _ = await hub.agent("max")
    visitor, _, conv = await open_chat(hub, agent)
    sent = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "m1", "text": "Hello"}
    )
    seq = sent["seq"]
    await visitor.expect("message", conversation_id=conv, client_id="m1")
    started = time.monotonic()

    def frame(i: int) -> dict[str, object]:
        if kind == "read":
            return {"type": "read", "conversation_id": conv, "seq": seq}
        return {"type": "typing", "conversation_id": conv, "active": i % 2 == 0}

    sent_frames = 0
    for i in range(2_000):
        if visitor.closed:
            break
        await visitor.send(frame(i))
        sent_frames += 1
    assert await visitor.wait_closed(timeout=10) == 4429
    refused = [f for f in visitor.inbox if f.get("code") == "rate_limited"]
    assert refused, "the flood was never refused"
    first = await agent.expect(kind, conversation_id=conv)  # the first is relayed at once
    if kind == "read":
        assert first["seq"] == seq
    # The agent is still connected and chatting: a round trip after the flood.
    assert not agent.closed
    ack = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "m2", "text": "Still here"}
    )
    assert ack["seq"] > seq
    # Relayed so far: the first, then at most one per 0.25 s interval since (a frame still to
    # come would only add to an interval not yet counted here).
    elapsed = time.monotonic() - started
    relayed = [first, *agent.take(kind, conversation_id=conv)]
    assert len(relayed) <= 2 + elapsed / 0.25, (sent_frames, len(relayed), elapsed)
