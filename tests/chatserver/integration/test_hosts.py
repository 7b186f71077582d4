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

The same with HAProxy in front (on a host of its own, run with docs/haproxy.cfg.example, only
the addresses changed): no stickiness, the visitor reaches whichever hub round robin gives it,
that hub's link is cut, and the visitor's reconnect through HAProxy lands on a live hub and
resumes there.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

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
HAPROXY_CONFIG = Path(__file__).resolve().parents[3] / "docs" / "haproxy.cfg.example"
#: How long the visitor waits for a ``pong`` before it takes its socket for dead: the widget's
#: 10 s, shortened for the test (a pong on this network comes back in about a millisecond).
DEAD_AFTER_S = 1.0
METRICS_TOKEN = secrets.token_hex(8)
PROBE = """
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=60)
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
    net = Network(["redis", "db", "lb", *HUBS])
    redis: RedisServer | None = None
    postgres: PostgresServer | None = None
    hub: Hub | None = None
    try:
        await asyncio.to_thread(net.start)
        redis = RedisServer(6379, host=net.address("redis"), launch=net.command("redis"))

        def start_postgres() -> None:
            nonlocal postgres
            postgres = PostgresServer(5432, host=net.address("db"), launch=net.command("db"))
            postgres.start()

        await asyncio.gather(asyncio.to_thread(redis.start), asyncio.to_thread(start_postgres))
        assert postgres is not None
        database_url = postgres.create_database("chat")
        await add_agent(database_url, "bea")
        env = {
            "CHATSERVER_DATABASE_URL": database_url,
            "CHATSERVER_REDIS_PREFIX": "{h" + secrets.token_hex(3) + "}",
            "CHATSERVER_METRICS_TOKEN": METRICS_TOKEN,
            "CHATSERVER_TRUSTED_PROXIES": net.address("lb"),  # HAProxy, in the second test
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
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await probe.communicate()
    assert probe.returncode == 0, err.decode()
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


async def wait_dead_socket_dropped(server: ServerProcess) -> None:
    """What Redis (or HAProxy) had for the hub while it was cut off reaches it once its link is
    back; passing it on to the visitor's old socket, whose far end is gone (a reset), the hub
    lets go of that socket. Until then; its WebSocket keepalive would find it within 50 s."""
    deadline = time.monotonic() + 60
    while True:
        if await visitor_sockets(server) == 0:
            return
        assert time.monotonic() < deadline, f"{server.http} still holds the dead socket"
        await asyncio.sleep(0.05)


@dataclass
class Chat:
    """What each side of one conversation got, and the ``seq`` of every acknowledged message."""

    conv: str
    agent: Peer
    agent_log: Recorded
    visitor_logs: list[Recorded]
    acked: dict[str, int]


async def cut_off(
    net: Network, host: str, server: ServerProcess, chat: Chat, visitor: Peer
) -> tuple[dict[str, Any], asyncio.Task[tuple[int, dict[str, Any]]]]:
    """Cut ``host``'s link while ``visitor`` chats through it. The visitor's next message is in
    flight when the link is gone: no ack comes, the client keeps it (the widget's outbox) under
    its client_id, and its keepalive finds the socket dead; it drops it. Meanwhile the agent
    goes on writing. Returns the message in flight and a task asking the hub, from inside its
    own host, whether it is ready (it is up, but on its own: it says 503 — after a while)."""
    net.cut(host)
    in_flight = {"type": "message", "conversation_id": chat.conv, "client_id": "v-cut", "text": "?"}
    await visitor.send(in_flight)
    alone = asyncio.create_task(readyz_inside(net, host, server))

    async def visitor_gives_up() -> None:
        with pytest.raises(AssertionError, match="no reply"):
            await visitor.answer({"type": "ping"}, timeout=DEAD_AFTER_S)
        assert not visitor.closed  # nothing closed it: the link is just silent
        assert visitor.ws is not None
        visitor.ws.transport.abort()  # the client drops the socket, as the widget does

    async def agent_writes_on() -> None:
        for i in range(3):
            chat.acked[f"a-away{i}"] = (await say(chat.agent, chat.conv, f"a-away{i}"))["seq"]

    await asyncio.gather(visitor_gives_up(), agent_writes_on())
    return in_flight, alone


async def resume(
    chat: Chat, visitor: Peer, welcome: dict[str, Any], in_flight: dict[str, Any]
) -> None:
    """The reconnected visitor resumes from the highest seq it has, gets what the agent wrote
    meanwhile, sends the message in flight again (same client_id), and chats on."""
    assert [x["conversation_id"] for x in welcome["conversations"]] == [chat.conv]
    highest = max(seq for log in chat.visitor_logs for seq, _ in messages(log.every, chat.conv))
    chat.visitor_logs.append(recorded(visitor))
    resumed = await visitor.request(
        {"type": "resume", "conversation_id": chat.conv, "last_seq": highest}, expect="resumed"
    )
    assert resumed["last_seq"] == chat.acked["a-away2"]
    chat.acked["v-cut"] = (await visitor.request(dict(in_flight)))["seq"]
    await chat.agent.expect("message", client_id="v-cut", timeout=10)
    for i in range(3, 5):
        await exchange(visitor, chat.agent, chat.conv, f"{i}", chat.acked)


async def assert_intact(chat: Chat, database_url: str) -> None:
    """Each side got every acknowledged message once, in seq order; the agent never noticed
    (its socket open, nothing but the chat, no error); PostgreSQL has each message once, under
    gap-free seq."""
    in_order = sorted(chat.acked, key=chat.acked.__getitem__)
    expected = [(chat.acked[client_id], client_id) for client_id in in_order]
    assert len(set(chat.acked.values())) == len(chat.acked)
    seen = [frame for log in chat.visitor_logs for frame in log.every]
    assert messages(seen, chat.conv) == expected
    assert messages(chat.agent_log.every, chat.conv) == expected
    assert not chat.agent.closed
    assert {f["type"] for f in chat.agent_log.every} <= {"ack", "message"}, chat.agent_log.every
    assert not [f for f in seen if f["type"] == "error"]
    async with PostgresStore(database_url) as store:
        events = await store.events(chat.conv)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [(e.seq, e.client_id) for e in events if e.kind == "message"] == expected


async def back_on_the_network(
    net: Network,
    host: str,
    server: ServerProcess,
    chat: Chat,
    visitor: Peer,
    alone: asyncio.Task[tuple[int, dict[str, Any]]],
) -> None:
    """While cut off the hub was up but not ready; its link restored, it is ready again, lets
    go of the dead socket, and the chat goes on: a round trip after that is the barrier behind
    which anything the hub sent on its way back would have arrived."""
    status, body = await alone
    assert status == 503 and body["redis"] != "ok" and body["store"] != "ok", body
    assert server.proc is not None and server.proc.poll() is None
    net.restore(host)
    assert await ready(server) == {"status": "ok", "redis": "ok", "store": "ok"}
    await wait_dead_socket_dropped(server)
    for i in range(5, 7):
        await exchange(visitor, chat.agent, chat.conv, f"{i}", chat.acked)


@pytest.mark.slow
async def test_hub_host_cut_visitor_resumes_through_another_agent_never_notices(
    floor: Floor,
) -> None:
    hub, net = floor.hub, floor.net
    a, b, c = (floor.servers[name] for name in HUBS)
    agent, _ = await hub.agent("bea", server=b)
    visitor, token, conv = await open_chat(hub, agent, server=a)
    chat = Chat(conv, agent, recorded(agent), [recorded(visitor)], {})
    for i in range(3):
        await exchange(visitor, agent, conv, f"{i}", chat.acked)

    in_flight, alone = await cut_off(net, "a", a, chat, visitor)
    visitor2, welcome = await hub.visitor(token=token, server=c)
    await resume(chat, visitor2, welcome, in_flight)
    await back_on_the_network(net, "a", a, chat, visitor2, alone)
    await assert_intact(chat, floor.database_url)


class HAProxy:
    """Debian's haproxy on the ``lb`` host, run with docs/haproxy.cfg.example, whose ``bind``
    and ``server`` lines are pointed at this network's hosts (each must be there)."""

    def __init__(self, floor: Floor, folder: Path) -> None:
        net = floor.net
        self.address = net.address("lb")
        config = HAPROXY_CONFIG.read_text()
        config, bound = re.subn(r"(?m)^(\s+bind )\S+$", rf"\g<1>{self.address}:80", config)
        assert bound == 1, "docs/haproxy.cfg.example: one bind line"
        for name, server in floor.servers.items():
            config, n = re.subn(
                rf"(?m)^(\s+server {name} )\S+$", rf"\g<1>{server.host}:{server.port}", config
            )
            assert n == 1, f"docs/haproxy.cfg.example: one server {name}"
        self.config = folder / "haproxy.cfg"
        self.config.write_text(config)
        self.log = folder / "haproxy.log"
        with open(self.log, "wb") as log:
            self.proc = net.popen(
                "lb",
                ["haproxy", "-db", "-f", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def ws(self) -> str:
        return f"ws://{self.address}"

    async def ready(self) -> None:
        """Until a request through it reaches a ready hub."""
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as http:
            while True:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    if (
                        await http.get(f"http://{self.address}/readyz", timeout=1)
                    ).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (
                    f"HAProxy not passing requests: {self.log.read_text()}"
                )
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def visitor_through(
    url: str, token: str | None, timeout: float = 30.0
) -> tuple[Peer, dict[str, Any]]:
    """A visitor connects (``hello``, ``welcome``) at ``url``; while that fails it tries again
    after a short back-off, as the widget does."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        peer = Peer(f"{url}/ws/visitor")
        try:
            await peer.connect()
            await peer.send({"type": "hello", "token": token})
            return peer, await peer.expect("welcome")
        except (OSError, TimeoutError, InvalidStatus, AssertionError) as exc:
            await peer.close()
            assert time.monotonic() < deadline, f"no hub through {url}: {exc!r}"
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def which_hub(floor: Floor, among: list[str]) -> str:
    """The one hub (of ``among``) that holds a visitor socket."""
    counts = {name: await visitor_sockets(floor.servers[name]) for name in among}
    holding = [name for name, count in counts.items() if count == 1]
    assert len(holding) == 1 and sum(counts.values()) == 1, counts
    return holding[0]


@pytest.mark.slow
async def test_behind_haproxy_a_visitor_whose_hub_is_cut_reconnects_to_a_live_one(
    floor: Floor, tmp_path: Path
) -> None:
    assert shutil.which("haproxy"), "no haproxy on PATH: ./dev.sh test installs Debian's"
    hub, net = floor.hub, floor.net
    lb = HAProxy(floor, tmp_path)
    try:
        await lb.ready()
        visitor, welcome = await visitor_through(lb.ws, None)
        token = welcome["token"]
        first = await which_hub(floor, list(HUBS))
        # The agent on another hub (directly: which hub serves the agent is not the point here).
        agent_host = next(name for name in HUBS if name != first)
        agent, _ = await hub.agent("bea", server=floor.servers[agent_host])
        queued = await visitor.request(
            {"type": "start", "topic": "general", "language": "en"}, expect="queued"
        )
        conv = queued["conversation_id"]
        offer = await agent.expect("offer", timeout=10)
        await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
        await visitor.expect("assigned", conversation_id=conv, timeout=10)
        chat = Chat(conv, agent, recorded(agent), [recorded(visitor)], {})
        for i in range(3):
            await exchange(visitor, agent, conv, f"{i}", chat.acked)

        in_flight, alone = await cut_off(net, first, floor.servers[first], chat, visitor)
        visitor2, welcome = await visitor_through(lb.ws, token)
        live = [name for name in HUBS if name != first]
        await which_hub(floor, live)  # a live hub holds the visitor now
        await resume(chat, visitor2, welcome, in_flight)
        await back_on_the_network(net, first, floor.servers[first], chat, visitor2, alone)
        await assert_intact(chat, floor.database_url)
    finally:
        lb.stop()
