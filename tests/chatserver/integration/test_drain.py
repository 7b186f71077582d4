"""A rolling restart: SIGTERM drains a hub process before it stops.

Two real hub processes on one real Redis, an agent on each. On SIGTERM hub A fails /readyz at
once while it still serves its chats, refuses new sockets, and its agent gets no new offers
(its open offer goes to the agent on hub B); after the drain A's sockets close with 1012, the
clients come back on hub B and resume by `seq` — nothing lost, nothing twice — and A exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.exceptions import InvalidStatus

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import assert_exactly_once_in_order
from tests.support.netcut import NetCut
from tests.support.peer import Peer
from tests.support.server import ServerProcess, run_cli

FAST = {"CHATSERVER_RATE_PER_S": "1000", "CHATSERVER_RATE_BURST": "1000"}


def send_signal(server: ServerProcess, sig: int) -> None:
    assert server.proc is not None
    server.proc.send_signal(sig)


async def exit_code(server: ServerProcess, timeout: float) -> int:
    assert server.proc is not None
    code = await asyncio.to_thread(server.proc.wait, timeout)
    server.proc = None
    return code


def logged(server: ServerProcess, text: str, timeout: float) -> None:
    """Wait until the server's log has ``text``."""
    deadline = time.monotonic() + timeout
    while text not in server.output():
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{server.output()}"
        time.sleep(0.05)


async def decisions(hub: Hub, conv: str) -> list[dict[str, Any]]:
    """The router's decision records for a conversation, oldest first."""
    redis = aioredis.Redis.from_url(hub.redis.url)
    try:
        prefix = hub.env["CHATSERVER_REDIS_PREFIX"]
        return [json.loads(r) for r in await redis.lrange(f"{prefix}:explain:{conv}", 0, -1)]
    finally:
        await redis.aclose()


async def start(hub: Hub, visitor: Peer) -> str:
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en"}, "queued"
    )
    return str(queued["conversation_id"])


async def take(hub: Hub, agent: Peer, conv: str, visitor: Peer) -> None:
    offer = await agent.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await visitor.expect("assigned", conversation_id=conv, timeout=10)


def seqs(peer: Peer, conv: str) -> list[int]:
    return [
        f["seq"]
        for f in peer.inbox
        if f.get("conversation_id") == conv and "seq" in f and f["type"] != "ack"
    ]


async def test_sigterm_drains_then_clients_move_to_the_other_hub(hub: Hub) -> None:
    ann_id = await add_agent(hub.data_dir, "ann", capacity=5)
    bob_id = await add_agent(hub.data_dir, "bob", capacity=3)
    a = hub.start_server(CHATSERVER_DRAIN_S="6", **FAST)
    b = hub.start_server(**FAST)

    # Ann (on A) takes Vera's chat; then Bob (on B) takes Walt's. Ann has more room (1/5
    # against 1/3), so rule 2 offers her the next one: Xena's, which she leaves open.
    ann, _ = await hub.agent("ann", server=a)
    vera, vera_welcome = await hub.visitor(server=a)
    conv = await start(hub, vera)
    await take(hub, ann, conv, vera)
    bob, _ = await hub.agent("bob", server=b)
    walt, _ = await hub.visitor(server=b)
    walt_conv = await start(hub, walt)
    await take(hub, bob, walt_conv, walt)
    xena, _ = await hub.visitor(server=b)
    xena_conv = await start(hub, xena)
    pending = await ann.expect("offer", timeout=10)
    assert pending["conversation"]["conversation_id"] == xena_conv
    for i in range(3):
        await vera.request(
            {"type": "message", "conversation_id": conv, "client_id": f"v{i}", "text": f"v{i}"}
        )
    await ann.expect("message", client_id="v2")

    send_signal(a, signal.SIGTERM)
    async with httpx.AsyncClient(timeout=5) as http:
        ready = await http.get(f"{a.http}/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "draining"
        assert "restarting" in ready.json()["message"]
        alive = await http.get(f"{a.http}/healthz")
        assert alive.status_code == 200 and alive.json()["draining"] is True
        assert (await http.get(f"{b.http}/readyz")).status_code == 200
    # Ann's open offer is withdrawn and goes to Bob: the router has the drain.
    withdrawn = await ann.expect("offer_withdrawn", timeout=5)
    assert (withdrawn["offer_id"], withdrawn["reason"]) == (pending["offer_id"], "agent_away")
    await take(hub, bob, xena_conv, xena)

    # A still serves the chats it holds: a round trip each way.
    ack = await vera.request(
        {"type": "message", "conversation_id": conv, "client_id": "v3", "text": "still there?"}
    )
    await ann.expect("message", client_id="v3")
    await ann.request(
        {"type": "message", "conversation_id": conv, "client_id": "a0", "text": "yes"}
    )
    await vera.expect("message", client_id="a0")
    assert ack["seq"] > 0
    # Ann cannot go online here: she would take new chats on a process about to stop.
    refused = await ann.answer({"type": "status", "status": "online"})
    assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused

    # A new socket on A is refused at the handshake (the client tries elsewhere); a visitor
    # arriving on B is offered to Bob, whom rule 2 ranks below Ann (2/3 against 1/5).
    with pytest.raises(InvalidStatus) as refused_socket:
        await Peer(f"{a.ws}/ws/visitor").connect()
    assert refused_socket.value.response.status_code == 503
    yann, _ = await hub.visitor(server=b)
    yann_conv = await start(hub, yann)
    await take(hub, bob, yann_conv, yann)
    winners = {
        c: [d["winner"] for d in await decisions(hub, c) if d.get("winner")]
        for c in (xena_conv, yann_conv)
    }
    assert winners == {xena_conv: [ann_id, bob_id], yann_conv: [bob_id]}

    # After the drain: 1012 for every socket on A, and A exits 0.
    assert await vera.wait_closed(20) == 1012
    assert await ann.wait_closed(5) == 1012
    assert await exit_code(a, 20) == 0
    # Everything A sent Ann is in her inbox now (the close came last): no offer but Xena's.
    assert ann.take("offer") == []

    # Ann comes back on B, with her chat, and goes online there; she writes while Vera is away.
    ann2, welcome = await hub.agent("ann", server=b, online=False)
    assert [c["conversation_id"] for c in welcome["conversations"]] == [conv]
    await ann2.request({"type": "status", "status": "online"})
    await ann2.request(
        {"type": "message", "conversation_id": conv, "client_id": "a1", "text": "back"}
    )
    # Vera comes back on B and resumes from the last seq she saw: nothing lost, nothing twice.
    seen = seqs(vera, conv)
    assert_exactly_once_in_order(seen)
    vera2, welcome = await hub.visitor(token=vera_welcome["token"], server=b)
    assert [c["conversation_id"] for c in welcome["conversations"]] == [conv]
    await vera2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": seen[-1]}, expect="resumed"
    )
    await vera2.request(
        {"type": "message", "conversation_id": conv, "client_id": "v4", "text": "hi again"}
    )
    await ann2.expect("message", client_id="v4")
    after = seqs(vera2, conv)
    assert after and after[0] == seen[-1] + 1
    assert_exactly_once_in_order(seen + after)
    # The whole transcript, read afresh, is exactly what Vera saw across both processes.
    check, _ = await hub.visitor(token=vera_welcome["token"], server=b)
    await check.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
    )
    everything = seqs(check, conv)
    assert everything[everything.index(seen[0]) :] == seen + after  # from her first message on
    texts = [f.get("client_id") for f in check.inbox if f.get("type") == "message"]
    assert texts == ["v0", "v1", "v2", "v3", "a0", "a1", "v4"]


async def test_a_second_sigterm_stops_at_once(hub: Hub) -> None:
    await add_agent(hub.data_dir, "cleo")
    a = hub.start_server(CHATSERVER_DRAIN_S="600")
    b = hub.start_server()
    cleo, _ = await hub.agent("cleo", server=a)
    visitor, _ = await hub.visitor(server=a)
    conv = await start(hub, visitor)
    await take(hub, cleo, conv, visitor)

    send_signal(a, signal.SIGTERM)
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{a.http}/readyz")).status_code == 503
    # The drain holds: A still answers.
    await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "m0", "text": "x"}
    )
    began = time.monotonic()
    send_signal(a, signal.SIGTERM)
    assert await visitor.wait_closed(10) == 1012
    assert await cleo.wait_closed(5) == 1012
    assert await exit_code(a, 10) == 0
    assert time.monotonic() - began < 10  # not the 600 s drain
    _cleo, welcome = await hub.agent("cleo", server=b)
    assert [c["conversation_id"] for c in welcome["conversations"]] == [conv]


async def test_a_drain_of_zero_closes_at_once(hub: Hub) -> None:
    await add_agent(hub.data_dir, "dora")
    a = hub.start_server(CHATSERVER_DRAIN_S="0")
    b = hub.start_server()
    dora, _ = await hub.agent("dora", server=a)
    visitor, welcome = await hub.visitor(server=a)
    conv = await start(hub, visitor)
    await take(hub, dora, conv, visitor)
    await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "m0", "text": "x"}
    )

    began = time.monotonic()
    send_signal(a, signal.SIGTERM)
    assert await visitor.wait_closed(10) == 1012
    assert await dora.wait_closed(5) == 1012
    assert await exit_code(a, 10) == 0
    assert time.monotonic() - began < 10
    visitor2, _ = await hub.visitor(token=welcome["token"], server=b)
    await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
    )
    assert [f["client_id"] for f in visitor2.inbox if f.get("type") == "message"] == ["m0"]


@pytest.mark.parametrize("value", ["-1", "3601", "soon"])
def test_a_bad_drain_setting_is_refused_before_anything_starts(hub: Hub, value: str) -> None:
    done = run_cli(
        hub.data_dir,
        "serve",
        "--no-demo",
        env={"CHATSERVER_DRAIN_S": value, "REDIS_URL": hub.redis.url},
    )
    assert done.returncode == 2, done.stderr
    assert "CHATSERVER_DRAIN_S" in done.stderr
    assert not (hub.data_dir / "chat.db").exists()


async def test_redis_out_when_the_drain_begins(hub: Hub) -> None:
    """Redis does not answer process A when SIGTERM comes: /readyz fails all the same, and
    once Redis is back A's tick sets its agent away — her open offer goes to process B."""
    await add_agent(hub.data_dir, "ann")
    await add_agent(hub.data_dir, "bob")
    b = await asyncio.to_thread(hub.start_server)
    cut = await NetCut(hub.redis.port).start()
    try:
        hub.redis_url = f"redis://127.0.0.1:{cut.port}"
        a = await asyncio.to_thread(hub.start_server, CHATSERVER_DRAIN_S="30")
        ann, _ = await hub.agent("ann", server=a)
        visitor, _ = await hub.visitor(server=b)
        conv = await start(hub, visitor)
        offer = await ann.expect("offer", timeout=10)
        assert offer["conversation"]["conversation_id"] == conv
        bob, _ = await hub.agent("bob", server=b)

        cut.cut()
        send_signal(a, signal.SIGTERM)
        async with httpx.AsyncClient(timeout=5) as http:
            ready = await http.get(f"{a.http}/readyz")
            assert (ready.status_code, ready.json()["status"]) == (503, "draining")
        # A barrier: A has tried, and failed, to set Ann away.
        await asyncio.to_thread(logged, a, "drain: agents not set away yet", 10)
        cut.restore()
        moved = await bob.expect("offer", timeout=15)
        assert moved["conversation"]["conversation_id"] == conv
        await bob.request({"type": "accept", "offer_id": moved["offer_id"]}, expect="assigned")
        await visitor.expect("assigned", conversation_id=conv, timeout=10)
        winners = [d["winner"] for d in await decisions(hub, conv) if d.get("winner")]
        assert len(winners) == 2 and winners[0] != winners[1]
        send_signal(a, signal.SIGTERM)  # and now stop
        assert await ann.wait_closed(10) == 1012
        assert await exit_code(a, 15) == 0
    finally:
        await cut.close()
