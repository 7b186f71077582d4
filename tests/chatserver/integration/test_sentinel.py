"""Redis that fails over: hub processes that reach Redis only through three sentinels; the master
is SIGKILLed mid-conversation, the sentinels promote the replica, and the chat goes on — nothing
acked lost or doubled, pub/sub resubscribed, the router at work on the new master."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import open_chat
from tests.support.browser import ALL_SKILLS
from tests.support.peer import Peer
from tests.support.redis_server import RedisServer
from tests.support.sentinel import FailoverRedis
from tests.support.server import ServerProcess
from tests.support.stores import query

PREFIX = "{cs}"


@pytest.fixture
def failover_redis() -> Iterator[FailoverRedis]:
    with FailoverRedis(replicas=1, sentinels=3) as group:
        yield group


def start_on_sentinels(hub: Hub, group: FailoverRedis) -> ServerProcess:
    """A hub process that knows Redis only through the sentinels (no REDIS_URL)."""
    server = ServerProcess(
        hub.data_dir, None, env={**hub.env, **group.env}, node_id=f"n{len(hub.servers)}"
    )
    server.start()
    hub.servers.append(server)
    return server


def messages(peer: Peer, conv: str) -> list[tuple[int, str]]:
    """(seq, client_id) of the messages a peer has received in a conversation."""
    return [
        (f["seq"], f["client_id"])
        for f in peer.inbox
        if f.get("type") == "message" and f.get("conversation_id") == conv
    ]


async def until_seen(peer: Peer, conv: str, client_id: str, timeout: float = 20.0) -> None:
    """Wait until the peer has received this message (it stays in the inbox)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while client_id not in {c for _, c in messages(peer, conv)}:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{client_id} never arrived; got {messages(peer, conv)}")
        await asyncio.sleep(0.05)


def log_of(server: ServerProcess) -> str:
    return server.log_path.read_text(errors="replace")


# ~7.5 s on the 2-core machine: the sentinels meet (~2 s), two hub processes, the failover
# (~2.3 s), so not `slow`.
async def test_the_chat_goes_on_when_sentinel_promotes_the_replica(
    tmp_path: Path, failover_redis: FailoverRedis
) -> None:
    group = failover_redis
    hub = Hub(tmp_path / "data", group.servers[0], {"CHATSERVER_REDIS_PREFIX": PREFIX})
    hub.data_dir.mkdir()
    await add_agent(hub.data_dir, "sam", skills=ALL_SKILLS, display_name="Sam Lee")
    try:
        a_server = await asyncio.to_thread(start_on_sentinels, hub, group)
        v_server = await asyncio.to_thread(start_on_sentinels, hub, group)
        assert not (hub.data_dir / "redis.sock").exists()  # no private Redis was started
        agent, _ = await hub.agent("sam", server=a_server)
        visitor, _, conv = await open_chat(hub, agent, server=v_server)

        acked: dict[str, int] = {}

        async def say(peer: Peer, client_id: str) -> None:
            frame = {"type": "message", "conversation_id": conv, "client_id": client_id}
            ack = await peer.until_answered({**frame, "text": client_id})
            acked[client_id] = ack["seq"]

        async def talk(peer: Peer, prefix: str, numbers: range) -> None:
            for i in numbers:
                await say(peer, f"{prefix}{i}")
                await asyncio.sleep(0.05)  # a pace: the talk spans the failover

        # Before: both sides talk, across the two processes.
        await asyncio.gather(talk(visitor, "v", range(3)), talk(agent, "a", range(3)))
        await until_seen(agent, conv, "v2")
        await until_seen(visitor, conv, "a2")

        # Mid-conversation: both keep talking while the master is killed outright.
        talking = asyncio.gather(talk(visitor, "v", range(3, 13)), talk(agent, "a", range(3, 13)))
        # Kill it once the second round is under way on both sides (not after a fixed time).
        await until_seen(agent, conv, "v4")
        await until_seen(visitor, conv, "a4")
        old = await asyncio.to_thread(group.kill_master)
        await talking
        new = await asyncio.to_thread(group.wait_for_failover, old)
        assert new != old

        # After: acked, and delivered across the processes over the new master's pub/sub.
        await asyncio.gather(talk(visitor, "v", range(13, 16)), talk(agent, "a", range(13, 16)))
        for peer in (visitor, agent):
            for last in ("v15", "a15"):
                await until_seen(peer, conv, last)

        # Nothing acked lost, nothing twice: in both inboxes and in the store, every acked
        # message once, with the seq its ack gave, in seq order.
        assert len(acked) == 32
        for peer in (visitor, agent):
            got = messages(peer, conv)
            seqs = [seq for seq, _ in got]
            assert seqs == sorted(set(seqs)), f"duplicates or disorder: {got}"
            assert {client_id: seq for seq, client_id in got} == acked
        stored = query(
            hub.data_dir,
            "SELECT seq, client_id FROM events WHERE conversation_id = ? AND kind = 'message'",
            [conv],
        )
        assert sorted(stored) == sorted((seq, client_id) for client_id, seq in acked.items())

        # The router works on the new master: a new visitor's chat is offered to Sam.
        visitor2, _ = await hub.visitor(server=v_server)
        start = {"type": "start", "topic": "general", "language": "en"}
        queued = await visitor2.until_answered(start, expect="queued")
        offer = await agent.expect("offer", timeout=15)
        assert offer["conversation"]["conversation_id"] == queued["conversation_id"]

        # The promoted replica held a copy of the live state, but one that may trail what the
        # hubs wrote to the old master: its epoch is new (its own run_id), each process rebuilt
        # its part there, and each bus subscribed again.
        with redis.Redis(port=new, decode_responses=True) as promoted:
            run_id = str(promoted.info("server")["run_id"])
            assert str(promoted.get(f"{PREFIX}:epoch")).startswith(run_id + ":")
        for server in (a_server, v_server):
            log = log_of(server)
            assert "rebuilding live state" in log
            assert "bus reconnected" in log
    finally:
        await hub.close()
        for s in hub.servers:
            if "Traceback" in s.output():
                print(s.output())


async def test_an_epoch_another_redis_server_wrote_is_a_new_epoch(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    """What a replica promoted by Sentinel looks like to a hub: all the data, the epoch key
    included, but written by another server. The hub takes it for a new epoch and rebuilds."""
    hub = Hub(tmp_path / "data", private_redis, {"CHATSERVER_REDIS_PREFIX": PREFIX})
    hub.data_dir.mkdir()
    await add_agent(hub.data_dir, "tia")
    try:
        server = await asyncio.to_thread(hub.start_server)
        agent, _ = await hub.agent("tia")
        visitor, _, conv = await open_chat(hub, agent)
        r = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
        try:
            run_id = str((await r.info("server"))["run_id"])
            assert str(await r.get(f"{PREFIX}:epoch")).startswith(run_id + ":")
            await r.set(f"{PREFIX}:epoch", "0123456789abcdef0123456789abcdef01234567:feed")
            # The next tick notices, writes an epoch of this server's and rebuilds.
            for _ in range(100):
                if str(await r.get(f"{PREFIX}:epoch")).startswith(run_id + ":"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the hub kept the other server's epoch")
        finally:
            await r.aclose()
        for _ in range(100):
            if "rebuilding live state" in log_of(server):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no rebuild")
        # The chat goes on, and the router still routes.
        await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": "t1", "text": "still here"}
        )
        await until_seen(visitor, conv, "t1")
        visitor2, _ = await hub.visitor()
        start = {"type": "start", "topic": "general", "language": "en"}
        queued = await visitor2.until_answered(start, expect="queued")
        offer = await agent.expect("offer", timeout=10)
        assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
    finally:
        await hub.close()
