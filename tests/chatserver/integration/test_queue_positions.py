"""Waiting visitors hear where they are: a new first at once, everyone else on the hub's tick,
never more than once a second (docs/protocol.md, `queue`). A real hub process and Redis."""

from __future__ import annotations

import time

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.peer import Peer


async def _queue_of(
    hub: Hub, n: int, *, offered: int = 0
) -> tuple[list[Peer], list[str], list[float]]:
    visitors, convs, told_at = [], [], []
    for i in range(n):
        v, _ = await hub.visitor()
        queued = await v.request(
            {"type": "start", "topic": "billing", "language": "en", "text": f"#{i}"},
            expect="queued",
        )
        told_at.append(time.monotonic())
        assert queued["position"] == max(0, i + 1 - offered)  # 0: offered at once
        visitors.append(v)
        convs.append(queued["conversation_id"])
    return visitors, convs, told_at


async def test_waiting_visitors_follow_the_queue(hub: Hub) -> None:
    hub.start_server()  # nobody online: everyone waits
    visitors, convs, told_at = await _queue_of(hub, 5)
    await visitors[0].request({"type": "close", "conversation_id": convs[0]}, expect="ack")
    # The new first hears it at once, from the router's event.
    first = await visitors[1].expect("queue", conversation_id=convs[1])
    assert (first["position"], first["eta_s"]) == (1, None)  # no capacity: no estimate
    # The others on the tick — and not within a second of their previous frame.
    for k in (2, 3, 4):
        frame = await visitors[k].expect("queue", timeout=5, conversation_id=convs[k])
        assert frame["position"] == k
        assert time.monotonic() - told_at[k] >= 0.9
    # Two leave at once: the last one moves 4 → 2 in one frame, a second after the last one.
    heard = time.monotonic()
    for k in (1, 2):
        await visitors[k].request({"type": "close", "conversation_id": convs[k]}, expect="ack")
    frame = await visitors[4].expect("queue", timeout=5, conversation_id=convs[4], position=2)
    assert time.monotonic() - heard >= 0.9
    assert visitors[4].take("queue") == []  # never told 3: it moved twice within the second
    assert (await visitors[3].expect("queue", timeout=5, conversation_id=convs[3]))["position"] == 1
    for v in visitors:
        await v.close()


async def test_a_withdrawn_offer_puts_the_visitor_back_in_line(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice", skills={"billing": 5, "en": 5}, capacity=1)
    hub.start_server()
    agent, _ = await hub.agent("alice")
    visitors, convs, _ = await _queue_of(hub, 1, offered=1)
    offer = await agent.expect("offer")
    assert offer["conversation"]["conversation_id"] == convs[0]
    late, _ = await hub.visitor()
    queued = await late.request(
        {"type": "start", "topic": "billing", "language": "en", "text": "me too"},
        expect="queued",
    )
    assert queued["position"] == 1  # the first one is offered, not waiting
    await agent.request({"type": "status", "status": "away"}, expect="ack")
    # The offer is withdrawn and the first visitor is back first (it arrived earlier): told
    # at once; the other one moves to 2 and hears it on a tick.
    back = await visitors[0].expect("queue", conversation_id=convs[0])
    assert back["position"] == 1
    await late.expect("queue", timeout=5, conversation_id=queued["conversation_id"], position=2)
    await agent.close()
    for v in (*visitors, late):
        await v.close()
