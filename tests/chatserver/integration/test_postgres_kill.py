"""A whole hub process SIGKILLed mid-commit on PostgreSQL: nothing acknowledged is lost or
stored twice.

Two hub processes on one Redis and one PostgreSQL database: the agents on the survivor, the
visitors on the hub that dies. Every visitor and every agent sends as fast as its acks come
back, a few messages ahead (so the doomed hub always has commits in flight and frames unread);
the hub is SIGKILLed at a different point of the stream in each round. The visitors reconnect
to the survivor, resume from the last seq they saw and send every unacknowledged message again
with its client_id, as the widget's outbox does. Then, in PostgreSQL and in both sides'
inboxes: every message once, with the seq its ack gave, seqs gap-free, in order.

In the last round the hub is first frozen (SIGSTOP) while a transaction of its writer's holds
its chats locked, as a paused VM or a network cut with no reset would leave it: the agents'
messages to those chats wait until PostgreSQL ends the idle transaction (the store's
``idle_transaction_timeout``, 5 s), then go on; then the hub is killed.

A message the dead hub committed but never announced reaches the agent with the
conversation's next event (the survivor fills the gap from the store; docs/protocol.md,
"Idempotent messages"): the closing round of messages is that event.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed

from chatserver.core.accounts import hash_password
from chatserver.store import AgentRecord, iso_now
from chatserver.store.postgres import PostgresStore
from tests.chatserver.integration.conftest import PASSWORD, Hub
from tests.chatserver.integration.helpers import stream
from tests.support.peer import Peer
from tests.support.postgres_server import PostgresServer
from tests.support.server import ServerProcess

AGENTS = 2
VISITORS = 6  # three chats per agent
WINDOW = 4  # messages a client has sent ahead of its acks
#: Per round: the acks (of this round's stream) before the kill — early, mid, late — and
#: whether the hub is first frozen (SIGSTOP) inside a transaction of its writer's.
ROUNDS = ((15, False), (80, False), (200, False), (40, True))
FAST = {
    "CHATSERVER_RATE_PER_S": "100000",
    "CHATSERVER_RATE_BURST": "100000",
    "CHATSERVER_NEW_VISITORS_PER_MINUTE": "100000",
}


@dataclass
class Side:
    """One sender in one conversation: what it sent, what was acked, what waits for an ack."""

    name: str
    conv: str
    numbers: itertools.count[int] = field(default_factory=itertools.count)
    acked: dict[str, int] = field(default_factory=dict)  # client_id → seq
    unacked: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_id → frame

    def next_frame(self) -> dict[str, Any]:
        client_id = f"{self.name}-{next(self.numbers)}"
        frame = {"type": "message", "conversation_id": self.conv, "client_id": client_id}
        frame["text"] = client_id
        self.unacked[client_id] = frame
        return frame

    def settle(self, client_id: str, ack: dict[str, Any]) -> None:
        assert ack["type"] == "ack" and ack["client_id"] == client_id, ack
        assert self.acked.setdefault(client_id, ack["seq"]) == ack["seq"], (client_id, ack)
        self.unacked.pop(client_id, None)


@dataclass
class Visitor:
    token: str
    side: Side
    peers: list[Peer]

    @property
    def peer(self) -> Peer:
        return self.peers[-1]

    def seen(self) -> list[tuple[int, str, Any]]:
        """Every stored event of the chat this visitor received, over all its connections."""
        return [event for peer in self.peers for event in stream(peer, self.side.conv)]


async def add_agents(url: str) -> list[str]:
    names = [f"agent{i}" for i in range(AGENTS)]
    hashed = hash_password(PASSWORD)
    async with PostgresStore(url) as store:
        for name in names:
            await store.add_agent(
                AgentRecord(
                    id=name, username=name, display_name=name.title(), password_hash=hashed,
                    skills={"billing": 4, "en": 5}, capacity=VISITORS // AGENTS,
                    roles=("agent",), created_at=iso_now(),
                )
            )  # fmt: skip
    return names


async def offered(agents: list[Peer], conv: str, timeout: float = 10.0) -> tuple[Peer, str]:
    """The agent offered this chat, and the offer's id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for agent in agents:
            for offer in agent.take("offer"):
                if offer["conversation"]["conversation_id"] == conv:
                    return agent, offer["offer_id"]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no agent was offered {conv}")


class Countdown(asyncio.Event):
    """Set once ``count`` acks have come back."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.left = count

    def again(self, count: int) -> None:
        self.left = count
        self.clear()

    def acked(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.set()


async def send_until_stopped(
    peer: Peer, side: Side, stop: asyncio.Event, countdown: Countdown | None = None
) -> None:
    """``WINDOW`` senders on one socket, each sending its next message once the last is acked;
    they end at ``stop`` or when the socket dies (the hub was killed)."""

    async def sender() -> None:
        while not stop.is_set() and not peer.closed:
            frame = side.next_frame()
            try:
                ack = await peer.answer(dict(frame), timeout=15)
            except ConnectionClosed:
                return  # killed before this one went out: it stays in side.unacked
            except AssertionError:
                if peer.closed:
                    return  # killed with this one unacked: it stays in side.unacked
                raise
            side.settle(frame["client_id"], ack)
            if countdown is not None:
                countdown.acked()

    await asyncio.gather(*(sender() for _ in range(WINDOW)))


async def until_seen(peers: list[Peer], conv: str, client_ids: set[str]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        seen = {c for peer in peers for _, kind, c in stream(peer, conv) if kind == "message"}
        if client_ids <= seen:
            return
        assert loop.time() < deadline, f"{conv}: never arrived: {client_ids - seen}"
        await asyncio.sleep(0.02)


def stored_messages(url: str) -> list[tuple[str, int, str | None, str]]:
    """(conversation_id, seq, client_id, kind) of every event in PostgreSQL."""
    sql = b"SELECT conversation_id, seq, client_id, kind FROM events ORDER BY conversation_id, seq"
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def stored_last_seqs(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(b"SELECT id, last_seq FROM conversations").fetchall())


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own: its log tells what the hub's kills cut short."""
    with PostgresServer() as server:
        yield server


async def test_a_hub_sigkilled_mid_commit_loses_and_doubles_nothing_acked(
    private_postgres: PostgresServer, hub: Hub
) -> None:  # the cluster first, so it outlives the hub processes at teardown
    postgres_url = private_postgres.create_database("chat")
    names = await add_agents(postgres_url)
    hub.env.update(FAST, CHATSERVER_DATABASE_URL=postgres_url)
    survivor = await asyncio.to_thread(hub.start_server)
    doomed_env = {"CHATSERVER_DATABASE_URL": f"{postgres_url}?application_name={DOOMED}"}
    doomed = await asyncio.to_thread(hub.start_server, **doomed_env)
    agents = [(await hub.agent(name, server=survivor))[0] for name in names]

    visitors: list[Visitor] = []
    agent_sides: list[tuple[Peer, Side]] = []
    for v in range(VISITORS):
        peer, welcome = await hub.visitor(server=doomed)
        start = {"type": "start", "topic": "billing", "language": "en"}
        conv = (await peer.request(start, expect="queued"))["conversation_id"]
        agent, offer_id = await offered(agents, conv)
        await agent.request({"type": "accept", "offer_id": offer_id}, expect="assigned")
        await peer.expect("assigned", conversation_id=conv, timeout=10)
        visitors.append(Visitor(welcome["token"], Side(f"v{v}", conv), [peer]))
        agent_sides.append((agent, Side(f"a{v}", conv)))

    in_flight: list[int] = []  # per round: sent but not acked when the hub died
    committed_unacked: list[int] = []  # per round: of those, already in PostgreSQL
    cut_open: list[int] = []  # per round: the dead hub's transactions PostgreSQL rolled back
    for round_, (kill_after, freeze_first) in enumerate(ROUNDS):
        if round_:  # a new hub to kill; the visitors move to it and resume there
            doomed = await asyncio.to_thread(hub.start_server, **doomed_env)
            for visitor in visitors:
                await visitor.peer.close()
                await reconnect(hub, visitor, doomed)
        stop_agents = asyncio.Event()
        countdown = Countdown(kill_after)
        visitors_talking = [
            asyncio.create_task(send_until_stopped(v.peer, v.side, asyncio.Event(), countdown))
            for v in visitors
        ]
        agents_talking = [
            asyncio.create_task(send_until_stopped(peer, side, stop_agents))
            for peer, side in agent_sides
        ]
        await asyncio.wait_for(countdown.wait(), 30)
        if freeze_first:
            await freeze_inside_a_transaction(doomed, postgres_url, countdown)
            # Its batch holds its chats locked, and the agents write to the same chats: the
            # survivor's writer waits until PostgreSQL ends the frozen transaction (after the
            # store's idle_transaction_timeout, 5 s); then every agent's messages go on.
            loop = asyncio.get_running_loop()
            started = loop.time()
            while await asyncio.to_thread(idle_in_transaction, postgres_url):
                assert loop.time() - started < 20, "the frozen hub's transaction never ended"
                await asyncio.sleep(0.05)
            held = loop.time() - started
            ended_at = [len(side.acked) for _, side in agent_sides]
            while any(len(s.acked) == n for (_, s), n in zip(agent_sides, ended_at, strict=True)):
                assert loop.time() - started < 30, "the agents stalled"
                await asyncio.sleep(0.05)
            print(f"the frozen hub's transaction held its chats for {held:.1f} s")
        await asyncio.to_thread(doomed.kill)  # SIGKILL: no goodbye, commits cut short
        await asyncio.gather(*visitors_talking)  # every visitor's socket is dead
        unacked = {cid for v in visitors for cid in v.side.unacked}
        in_flight.append(len(unacked))
        stored_now = {row[2] for row in await asyncio.to_thread(stored_messages, postgres_url)}
        committed_unacked.append(len(unacked & stored_now))

        # The visitors come back through the survivor and send the unacked ones again.
        for visitor in visitors:
            await reconnect(hub, visitor, survivor)
            for client_id, frame in list(visitor.side.unacked.items()):
                ack = await visitor.peer.until_answered(frame)
                visitor.side.settle(client_id, ack)
        stop_agents.set()
        await asyncio.gather(*agents_talking)
        cut_open.append(transactions_cut(private_postgres) - sum(cut_open))
        # The closing round: one more message each way per chat, seen by both sides. Each
        # side gets a chat's events in seq order, so once both have arrived at both, every
        # event stored before them has too.
        for visitor, (agent, side) in zip(visitors, agent_sides, strict=True):
            last = set()
            for peer, sender in ((visitor.peer, visitor.side), (agent, side)):
                frame = sender.next_frame()
                sender.settle(frame["client_id"], await peer.request(dict(frame)))
                last.add(frame["client_id"])
            await until_seen(visitor.peers, side.conv, last)
            await until_seen([agent], side.conv, last)

    # Every round killed the hub with messages in flight: sent, not yet acknowledged. And the
    # kills landed mid-commit: a transaction of the dead hub's that PostgreSQL rolled back, or
    # messages committed whose acks never left (on this machine each round shows one or both).
    print(f"in flight: {in_flight}; committed unacked: {committed_unacked}; cut: {cut_open}")
    assert all(n > 0 for n in in_flight), in_flight
    assert any(committed_unacked) or any(cut_open), (committed_unacked, cut_open)

    stored = await asyncio.to_thread(stored_messages, postgres_url)
    last_seqs = await asyncio.to_thread(stored_last_seqs, postgres_url)
    for visitor, (agent, agent_side) in zip(visitors, agent_sides, strict=True):
        conv = visitor.side.conv
        events = [(seq, cid, kind) for c, seq, cid, kind in stored if c == conv]
        seqs = [seq for seq, _, _ in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"{conv}: seqs not gap-free"
        assert last_seqs[conv] == len(seqs)
        messages = {cid: seq for seq, cid, kind in events if kind == "message"}
        assert len(messages) == sum(kind == "message" for _, _, kind in events)  # none twice
        acked = {**visitor.side.acked, **agent_side.acked}
        assert not visitor.side.unacked and not agent_side.unacked
        # Every message sent was acked in the end (first time or resent), and PostgreSQL holds
        # exactly those, each under the seq its ack gave.
        assert messages == acked
        for name, seen in (("visitor", visitor.seen()), ("agent", stream(agent, conv))):
            got = [(seq, cid) for seq, kind, cid in seen if kind == "message"]
            assert [s for s, _ in got] == sorted({s for s, _ in got}), f"{name}: twice or disorder"
            assert dict((cid, seq) for seq, cid in got) == acked, f"{name} of {conv}"


DOOMED = "doomed-hub"  # the application_name of the doomed hub's connections


def idle_in_transaction(url: str) -> int:
    """The doomed hub's sessions now idle inside a transaction that has locked conversations
    (``SELECT … FOR UPDATE`` takes a row-share lock on the table)."""
    sql = (
        b"SELECT count(*) FROM pg_stat_activity AS a JOIN pg_locks AS l ON l.pid = a.pid"
        b" WHERE a.application_name = %s AND a.state = 'idle in transaction'"
        b" AND l.relation = 'conversations'::regclass AND l.mode = 'RowShareLock'"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        (count,) = conn.execute(sql, [DOOMED]).fetchone() or (0,)
        return int(count)


async def freeze_inside_a_transaction(
    server: ServerProcess, url: str, countdown: Countdown
) -> None:
    """SIGSTOP the hub; if it is not then inside a transaction that has locked conversations,
    let it go on for a few more acks and try again."""
    assert server.proc is not None
    loop = asyncio.get_running_loop()
    for _ in range(50):
        server.proc.send_signal(signal.SIGSTOP)
        deadline = loop.time() + 0.3  # a statement it had sent finishes, then it idles
        while loop.time() < deadline:
            if await asyncio.to_thread(idle_in_transaction, url):
                return
            await asyncio.sleep(0.02)
        server.proc.send_signal(signal.SIGCONT)
        countdown.again(3)
        await asyncio.wait_for(countdown.wait(), 10)
    raise AssertionError("never caught the hub inside a transaction")


def transactions_cut(server: PostgresServer) -> int:
    """How many transactions PostgreSQL rolled back because their client vanished."""
    log = (server.dir / "postgres.log").read_text(errors="replace")
    return log.count("unexpected EOF on client connection with an open transaction")


async def reconnect(hub: Hub, visitor: Visitor, server: ServerProcess) -> None:
    """``hello`` with the visitor's token on ``server``, then ``resume`` from the last seq the
    visitor received."""
    peer, welcome = await hub.visitor(token=visitor.token, server=server)
    assert [c["conversation_id"] for c in welcome["conversations"]] == [visitor.side.conv]
    last = max((seq for seq, _, _ in visitor.seen()), default=0)
    visitor.peers.append(peer)
    resume = {"type": "resume", "conversation_id": visitor.side.conv, "last_seq": last}
    await peer.request(resume, expect="resumed", timeout=10)
