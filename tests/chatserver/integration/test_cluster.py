"""Several processes as one hub; a process killed; Redis flushed and restarted."""

from __future__ import annotations

import asyncio

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import assert_exactly_once_in_order, open_chat
from tests.support.redis_server import RedisServer


async def test_visitor_on_one_process_agent_on_another_then_sigkill(hub: Hub) -> None:
    await add_agent(hub.data_dir, "gina", display_name="Gina")
    a_server = hub.start_server()
    v_server = hub.start_server()
    agent, _ = await hub.agent("gina", server=a_server)
    visitor, token, conv = await open_chat(hub, agent, server=v_server)

    acked = []
    for i in range(5):
        acked.append(
            await visitor.request(
                {"type": "message", "conversation_id": conv, "client_id": f"v{i}", "text": f"v{i}"}
            )
        )
        await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": f"a{i}", "text": f"a{i}"}
        )
    await agent.expect("message", client_id="v4")
    await visitor.expect("message", client_id="a4")
    seen_by_visitor = [f["seq"] for f in visitor.inbox if f.get("type") == "message"]
    assert_exactly_once_in_order(seen_by_visitor)

    v_server.kill()  # SIGKILL: no goodbye
    await visitor.wait_closed(5)
    # The agent keeps writing while the visitor is away.
    for i in range(5, 8):
        await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": f"a{i}", "text": f"a{i}"}
        )

    visitor2, welcome = await hub.visitor(token=token, server=a_server)
    assert [c["conversation_id"] for c in welcome["conversations"]] == [conv]
    await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
    )
    got = [f for f in visitor2.inbox if f.get("type") == "message"]
    assert_exactly_once_in_order([f["seq"] for f in got])
    client_ids = [f["client_id"] for f in got]
    for i in range(5):
        assert f"v{i}" in client_ids and f"a{i}" in client_ids
    for i in range(5, 8):
        assert f"a{i}" in client_ids
    for a in acked:
        assert a["seq"] in [f["seq"] for f in got]


async def talk_once(peer, conv: str, client_id: str) -> None:  # type: ignore[no-untyped-def]
    await peer.send(
        {"type": "message", "conversation_id": conv, "client_id": client_id, "text": "end"}
    )


async def test_many_messages_across_processes_arrive_in_order(hub: Hub) -> None:
    await add_agent(hub.data_dir, "hank")
    fast = {"CHATSERVER_RATE_PER_S": "1000", "CHATSERVER_RATE_BURST": "1000"}
    a_server = hub.start_server(**fast)
    v_server = hub.start_server(**fast)
    agent, _ = await hub.agent("hank", server=a_server)
    visitor, _, conv = await open_chat(hub, agent, server=v_server)

    async def talk(peer, prefix: str) -> None:  # type: ignore[no-untyped-def]
        for i in range(40):
            await peer.send(
                {
                    "type": "message",
                    "conversation_id": conv,
                    "client_id": f"{prefix}{i}",
                    "text": "x",
                }
            )

    await asyncio.gather(talk(visitor, "v"), talk(agent, "a"))
    await agent.expect("message", client_id="v39", timeout=10)
    await visitor.expect("message", client_id="a39", timeout=10)
    # Barrier: one more message from each side. A peer gets a conversation's events in seq
    # order, so once both have arrived at both, anything stored before them has too — a late
    # duplicate or a missing message would show below.
    await talk_once(visitor, conv, "v-end")
    await talk_once(agent, conv, "a-end")
    for peer in (visitor, agent):
        for end in ("v-end", "a-end"):
            await peer.expect("message", client_id=end, timeout=10)
    for peer in (visitor, agent):
        msgs = [f for f in peer.inbox if f.get("type") == "message"]
        seqs = [f["seq"] for f in msgs]
        assert_exactly_once_in_order(seqs)
        # everything but the one consumed by expect() above
        assert len(msgs) == 79


async def test_redis_flushed_mid_conversation(make_hub, private_redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    hub: Hub = make_hub(private_redis)
    await add_agent(hub.data_dir, "ivy")
    hub.start_server()
    try:
        agent, _ = await hub.agent("ivy")
        visitor, _, conv = await open_chat(hub, agent)
        before = await visitor.request(
            {"type": "message", "conversation_id": conv, "client_id": "b1", "text": "before"}
        )
        await agent.expect("message", client_id="b1")

        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(private_redis.url)
        await r.flushall()
        await r.aclose()

        after = await visitor.request(
            {"type": "message", "conversation_id": conv, "client_id": "b2", "text": "after"},
            timeout=10,
        )
        assert after["seq"] == before["seq"] + 1
        await agent.expect("message", client_id="b2", timeout=10)
        reply = await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": "b3", "text": "still here"}
        )
        assert reply["seq"] == after["seq"] + 1
        await visitor.expect("message", client_id="b3", timeout=10)

        # A new visitor still gets routed once the hub has rebuilt its live state.
        visitor2, _ = await hub.visitor()
        await visitor2.request(
            {"type": "start", "topic": "general", "language": "en"}, expect="queued"
        )
        offer = await agent.expect("offer", timeout=10)
        assert offer["conversation"]["topic"] == "general"
    finally:
        await hub.close()


async def test_redis_restarted_mid_conversation(make_hub, private_redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    hub: Hub = make_hub(private_redis)
    await add_agent(hub.data_dir, "jo")
    hub.start_server()
    try:
        agent, _ = await hub.agent("jo")
        visitor, _, conv = await open_chat(hub, agent)
        first = await visitor.request(
            {"type": "message", "conversation_id": conv, "client_id": "r1", "text": "1"}
        )
        private_redis.restart()  # same port, empty
        second = await visitor.request(
            {"type": "message", "conversation_id": conv, "client_id": "r2", "text": "2"}, timeout=10
        )
        assert second["seq"] == first["seq"] + 1
        await agent.expect("message", client_id="r2", timeout=15)
        # Routing works again once the hub has rebuilt its live state in the new Redis.
        visitor2, _ = await hub.visitor()
        await visitor2.request(
            {"type": "start", "topic": "general", "language": "en"}, expect="queued"
        )
        offer = await agent.expect("offer", timeout=15)
        assert offer["conversation"]["topic"] == "general"
    finally:
        await hub.close()
