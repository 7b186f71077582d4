"""Hubs on several hosts: five machines made of network namespaces (tests/support/netns.py) —
Redis on one, PostgreSQL on another, a hub process on each of three more (A, B, C) — and the
test process on the same network, talking to them with real WebSocket clients.

A visitor on hub A chats with an agent on hub B. A's network link is cut: A's process stays up
but unreachable, as a host whose cable was pulled; nothing is closed, the visitor's socket just
goes silent, and the visitor finds out the way the widget does (a ``ping`` that gets no
``pong``), drops it, reconnects through hub C with its token and resumes from the last ``seq``
it has, then sends again the message that was in flight. Every acknowledged message reaches
both sides exactly once, in order; PostgreSQL holds each once under gap-free ``seq``; the
agent's socket on B never closes and never sees an error or a duplicate. A's link comes back,
A is ready again, and the chat goes on undisturbed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver.core.accounts import hash_password
from chatserver.store import AgentRecord, iso_now
from chatserver.store.postgres import PostgresStore
from tests.chatserver.integration.conftest import PASSWORD, Hub
from tests.chatserver.integration.helpers import open_chat
from tests.support.browser import ALL_SKILLS
from tests.support.netns import Network, unavailable
from tests.support.peer import Peer
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess

HUBS = ("a", "b", "c")
HUB_PORT = 8000
#: How long the visitor waits for a ``pong`` before it takes its socket for dead: the widget's
#: 10 s, shortened for the test (a pong on this network comes back in about a millisecond).
DEAD_AFTER_S = 1.0
METRICS_TOKEN = secrets.token_hex(8)
PROBE = """
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    r = e
print(r.status, r.read().decode())
"""


class Recorded(list[dict[str, Any]]):
    """A peer's inbox that also keeps every frame in `every`, so that the frames `Peer.expect`
    consumes are still counted."""

    def __init__(self) -> None:
        super().__init__()
        self.every: list[dict[str, Any]] = []

    def append(self, frame: dict[str, Any]) -> None:
        self.every.append(frame)
        super().append(frame)


def recorded(peer: Peer) -> Recorded:
    inbox = Recorded()
    inbox.extend(peer.inbox)
    peer.inbox = inbox
    return inbox


@dataclass
class Floor:
    net: Network
    hub: Hub
    servers: dict[str, ServerProcess]
    database_url: str


async def add_agent(url: str, username: str) -> None:
    async with PostgresStore(url) as store:
        await store.add_agent(
            AgentRecord(
                id=f"id-{username}", username=username, display_name=username.title(),
                password_hash=hash_password(PASSWORD), skills=dict(ALL_SKILLS), capacity=3,
                roles=("agent",), created_at=iso_now(),
            )
        )  # fmt: skip


@pytest.fixture
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    why = unavailable()
    if why:
        pytest.skip(why)
    net = Network(["redis", "db", *HUBS])
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    hub: Hub | None = None
    try:
        await asyncio.to_thread(net.start)
        redis = RedisServer(6379, host=net.address("redis"), launch=net.command("redis"))
        postgres = PostgresServer(5432, host=net.address("db"), launch=net.command("db"))
        await asyncio.gather(asyncio.to_thread(redis.start), asyncio.to_thread(postgres.start))
        database_url = postgres.create_database("chat")
        await add_agent(database_url, "bea")
        env = {
            "CHATSERVER_DATABASE_URL": database_url,
            "CHATSERVER_REDIS_PREFIX": "{h" + secrets.token_hex(3) + "}",
            "CHATSERVER_METRICS_TOKEN": METRICS_TOKEN,
        }
        hub = Hub(tmp_path, redis, env)
        servers = {
            name: ServerProcess(
                tmp_path / name,
                redis.url,
                port=HUB_PORT,
                env=env,
                node_id=f"hub-{name}",
                host=net.address(name),
                launch=net.command(name),
            )
            for name in HUBS
        }
        hub.servers.extend(servers.values())
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers.values()))
        yield Floor(net, hub, servers, database_url)
    finally:
        if net.namespaces:  # a hub that cannot reach Redis would linger in its shutdown
            for name in HUBS:
                net.restore(name)
        if hub is not None:
            await hub.close()
            for s in hub.servers:
                if "Traceback" in s.output():
                    print(s.output())
        if postgres is not None:
            await asyncio.to_thread(postgres.stop)
        if redis is not None:
            await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(net.close)


def messages(frames: list[dict[str, Any]], conv: str) -> list[tuple[int, str]]:
    return [
        (f["seq"], f["client_id"])
        for f in frames
        if f.get("type") == "message" and f.get("conversation_id") == conv
    ]


async def say(peer: Peer, conv: str, client_id: str) -> dict[str, Any]:
    return await peer.request(
        {"type": "message", "conversation_id": conv, "client_id": client_id, "text": client_id}
    )


async def exchange(visitor: Peer, agent: Peer, conv: str, tag: str, acked: dict[str, int]) -> None:
    """One message each way; returns once both sides have both (a barrier: a conversation's
    events reach a peer in seq order, so anything stored before them has arrived too)."""
    acked[f"v-{tag}"] = (await say(visitor, conv, f"v-{tag}"))["seq"]
    acked[f"a-{tag}"] = (await say(agent, conv, f"a-{tag}"))["seq"]
    for peer in (visitor, agent):
        for client_id in (f"v-{tag}", f"a-{tag}"):
            await peer.expect("message", client_id=client_id, timeout=10)


async def ready(server: ServerProcess, timeout: float = 30.0) -> dict[str, Any]:
    """Poll ``/readyz`` until it answers 200; its body."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                r = await http.get(f"{server.http}/readyz", timeout=1)
                if r.status_code == 200:
                    body: dict[str, Any] = r.json()
                    return body
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{server.http} not ready in {timeout}s"
            await asyncio.sleep(0.1)


async def readyz_inside(
    net: Network, host: str, server: ServerProcess
) -> tuple[int, dict[str, Any]]:
    """``GET /readyz`` asked on ``host`` itself, not through the network: (status, body)."""
    probe = await asyncio.create_subprocess_exec(
        *net.command(host), sys.executable, "-c", PROBE, f"{server.http}/readyz",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await probe.communicate()
    status, body = out.decode().split(" ", 1)
    return int(status), json.loads(body)


async def visitor_sockets(server: ServerProcess) -> float:
    """How many visitor WebSockets the hub process holds open (its ``chat_connections``)."""
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{server.http}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
    r.raise_for_status()
    for line in r.text.splitlines():
        if line.startswith('chat_connections{role="visitor"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.slow
async def test_hub_host_cut_visitor_resumes_through_another_agent_never_notices(
    floor: Floor,
) -> None:
    hub, net = floor.hub, floor.net
    a, b, c = (floor.servers[name] for name in HUBS)
    agent, _ = await hub.agent("bea", server=b)
    visitor, token, conv = await open_chat(hub, agent, server=a)
    agent_log = recorded(agent)
    before_cut = recorded(visitor)
    acked: dict[str, int] = {}
    for i in range(3):
        await exchange(visitor, agent, conv, f"{i}", acked)

    net.cut("a")
    # The visitor's next message is in flight when the link is gone: no ack will come; the
    # widget keeps it (its outbox) under its client_id. Its keepalive finds the socket dead.
    in_flight = {"type": "message", "conversation_id": conv, "client_id": "v-cut", "text": "?"}
    await visitor.send(in_flight)

    async def visitor_gives_up() -> None:
        with pytest.raises(AssertionError, match="no reply"):
            await visitor.answer({"type": "ping"}, timeout=DEAD_AFTER_S)
        assert not visitor.closed  # nothing closed it: the link is just silent
        assert visitor.ws is not None
        visitor.ws.transport.abort()  # the client drops the socket, as the widget does

    async def agent_writes_on() -> None:
        for i in range(3):
            acked[f"a-away{i}"] = (await say(agent, conv, f"a-away{i}"))["seq"]

    # Meanwhile A is up, but on its own: asked from inside its host, it is not ready (it takes
    # A a while to say so; it is asked meanwhile, the answer is checked before A's return).
    a_alone = asyncio.create_task(readyz_inside(net, "a", a))
    await asyncio.gather(visitor_gives_up(), agent_writes_on())

    highest = max(seq for seq, _ in messages(before_cut.every, conv))
    visitor2, welcome = await hub.visitor(token=token, server=c)
    assert [x["conversation_id"] for x in welcome["conversations"]] == [conv]
    after_cut = recorded(visitor2)
    resumed = await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": highest}, expect="resumed"
    )
    assert resumed["last_seq"] == acked["a-away2"]
    sent_again = await visitor2.request(dict(in_flight))  # from the outbox, the same client_id
    acked["v-cut"] = sent_again["seq"]
    await agent.expect("message", client_id="v-cut", timeout=10)
    for i in range(3, 5):
        await exchange(visitor2, agent, conv, f"{i}", acked)

    status, body = await a_alone
    assert status == 503 and body["redis"] != "ok" and body["store"] != "ok", body
    assert a.proc is not None and a.proc.poll() is None
    net.restore("a")
    assert await ready(a) == {"status": "ok", "redis": "ok", "store": "ok"}
    # What Redis had for A meanwhile reaches it now; A passes it on to the visitor's old socket,
    # whose far end is gone (reset): A lets go of it. Wait for that, then go on.
    deadline = time.monotonic() + 60  # its WebSocket keepalive would find it within 50 s
    while True:
        if await visitor_sockets(a) == 0:
            break
        assert time.monotonic() < deadline, "hub A still holds the visitor's dead socket"
        await asyncio.sleep(0.05)
    # A is back on the floor; the chat goes on as before, and a round trip after A's return is
    # the barrier behind which anything A might have sent on its way back would have arrived.
    for i in range(5, 7):
        await exchange(visitor2, agent, conv, f"{i}", acked)

    in_order = sorted(acked, key=acked.__getitem__)
    expected = [(acked[client_id], client_id) for client_id in in_order]
    assert len(set(acked.values())) == len(acked)
    # Each side got every acknowledged message once, in seq order.
    assert messages(before_cut.every + after_cut.every, conv) == expected
    assert messages(agent_log.every, conv) == expected
    # The agent never noticed: its socket is open, it got no error, nothing but the chat.
    assert not agent.closed
    kinds = {f["type"] for f in agent_log.every}
    assert kinds <= {"ack", "message"}, agent_log.every
    assert not [f for f in after_cut.every if f["type"] == "error"]

    async with PostgresStore(floor.database_url) as store:
        events = await store.events(conv)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    stored = [(e.seq, e.client_id) for e in events if e.kind == "message"]
    assert stored == expected
