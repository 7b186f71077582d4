"""The relay workload of a load-generator process (see bench/_loadgen.py): conversations set up
on the hub or on the bare relay, fixed-rate open-loop steps, and the receiving side that records
acks, deliveries, duplicates and order per message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
import urllib.request
from array import array
from collections import Counter
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench._loadgen import TEXT, GeneratorError

CONNECT = {
    "compression": None,  # per-message deflate off, as the hub serves it
    "ping_interval": None,  # the server pings; the client only answers
    "proxy": None,
    "open_timeout": 60,
    "close_timeout": 1,
    "max_queue": 256,
}

clock = time.perf_counter
SETTLE_MAX_S = 30.0  # after the grace period, how long a still-draining server is waited for


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Sock:
    """One WebSocket of the generator, visitor or agent, and what it has seen."""

    __slots__ = ("last_seq", "role", "ws")

    def __init__(self, ws: ClientConnection, role: str) -> None:
        self.ws = ws
        self.role = role
        self.last_seq: dict[str, int] = {}


class Step:
    """The bookkeeping of one fixed-rate step."""

    def __init__(self, sid: str, rate: float, total: int, conversations: int, t0: float) -> None:
        self.sid = sid
        self.rate = rate
        self.total = total
        self.conversations = conversations
        self.t0 = t0
        self.acked = bytearray(total)
        self.delivered = bytearray(total)
        self.acks = 0
        self.deliveries = 0
        self.dup_acks = 0
        self.dup_deliveries = 0
        self.out_of_order = 0
        self.last_delivery = t0
        self.ack_lat = array("d")
        self.v2a = array("d")  # visitor → agent, seconds from the due time
        self.a2v = array("d")
        self.send_lag = array("d")
        self.complete = asyncio.Event()  # every message acked and delivered

    def check_complete(self) -> None:
        if self.acks == self.total and self.deliveries == self.total:
            self.complete.set()

    def due(self, k: int) -> float:
        return self.t0 + k / self.rate

    def from_visitor(self, k: int) -> bool:
        return (k // self.conversations) % 2 == 0


class Relay:
    """The conversations a child drives and the bookkeeping of its steps."""

    def __init__(self) -> None:
        self.conversations: list[tuple[str, Sock, Sock]] = []
        self.socks: list[Sock] = []
        self.readers: list[asyncio.Task[None]] = []
        self.steps: dict[str, Step] = {}
        self.errors: Counter[str] = Counter()
        self.closed = 0
        # Hub set-up: which agent socket holds which conversation.
        self._agent_of: dict[str, Sock] = {}
        self._assigned = asyncio.Event()
        self._expect_assigned: set[str] = set()

    # -- relay: set-up on the hub ------------------------------------------------------------
    async def setup_hub(
        self,
        http_url: str,
        visitor_url: str,
        agent_url: str,
        agents: list[tuple[str, str]],
        conversations: int,
        topic: str,
        concurrency: int = 64,
        timeout: float = 120.0,
    ) -> dict[str, Any]:
        started = clock()
        loop = asyncio.get_running_loop()
        tokens = await asyncio.gather(
            *(loop.run_in_executor(None, _login, http_url, u, pw) for u, pw in agents)
        )
        for token in tokens:
            ws = await connect(agent_url, **CONNECT)  # type: ignore[arg-type]
            await ws.send(json.dumps({"type": "hello", "token": token}))
            await _expect(ws, "welcome")
            await ws.send(json.dumps({"type": "status", "status": "online"}))
            await _expect(ws, "ack")
            sock = Sock(ws, "agent")
            self.socks.append(sock)
            self.readers.append(asyncio.create_task(self._read(sock)))
        gate = asyncio.Semaphore(concurrency)

        async def visitor() -> tuple[str, Sock]:
            async with gate:
                ws = await connect(visitor_url, **CONNECT)  # type: ignore[arg-type]
                await ws.send('{"type":"hello","token":null}')
                await _expect(ws, "welcome")
                start = {"type": "start", "topic": topic, "language": "en"}
                await ws.send(json.dumps(start))
                queued = await _expect(ws, "queued")
                cid = str(queued["conversation_id"])
                self._expect_assigned.add(cid)
            await _expect(ws, "assigned")
            return cid, Sock(ws, "visitor")

        visitors = await asyncio.wait_for(
            asyncio.gather(*(visitor() for _ in range(conversations))), timeout
        )
        await asyncio.wait_for(self._all_assigned(), timeout)
        for cid, sock in visitors:
            self.socks.append(sock)
            self.readers.append(asyncio.create_task(self._read(sock)))
            self.conversations.append((cid, sock, self._agent_of[cid]))
        return {"conversations": len(self.conversations), "setup_s": round(clock() - started, 2)}

    async def _all_assigned(self) -> None:
        while not self._expect_assigned <= self._agent_of.keys():
            self._assigned.clear()
            await self._assigned.wait()

    # -- relay: set-up on the bare relay ------------------------------------------------------
    async def setup_bare(
        self, url: str, conversations: int, agents: int, prefix: str, concurrency: int = 64
    ) -> dict[str, Any]:
        started = clock()
        agent_socks = []
        for _ in range(agents):
            ws = await connect(url, **CONNECT)  # type: ignore[arg-type]
            agent_socks.append(Sock(ws, "agent"))
        gate = asyncio.Semaphore(concurrency)

        async def visitor(i: int) -> tuple[str, Sock, Sock]:
            cid = f"{prefix}{i}"
            async with gate:
                ws = await connect(url, **CONNECT)  # type: ignore[arg-type]
                await ws.send(orjson.dumps({"type": "join", "conversation_id": cid}), text=True)
                await _expect(ws, "joined")
            return cid, Sock(ws, "visitor"), agent_socks[i % agents]

        self.conversations = list(await asyncio.gather(*(visitor(i) for i in range(conversations))))
        for cid, _, agent in self.conversations:  # the agent joins each of its conversations
            await agent.ws.send(orjson.dumps({"type": "join", "conversation_id": cid}), text=True)
            await _expect(agent.ws, "joined")
        self.socks = agent_socks + [v for _, v, _ in self.conversations]
        self.readers = [asyncio.create_task(self._read(s)) for s in self.socks]
        return {"conversations": len(self.conversations), "setup_s": round(clock() - started, 2)}

    # -- relay: the receiving side -----------------------------------------------------------
    async def _read(self, sock: Sock) -> None:
        ws = sock.ws
        steps = self.steps
        try:
            while True:
                raw = await ws.recv(decode=False)
                now = clock()
                frame = orjson.loads(raw)
                kind = frame["type"]
                if kind == "message":
                    cid = frame.get("client_id")
                    if cid is None:
                        continue
                    sid, _, index = cid.partition("-")
                    step = steps.get(sid)
                    if step is None:
                        continue
                    k = int(index)
                    seq = frame.get("seq")
                    if seq is not None:
                        conv = frame["conversation_id"]
                        if seq <= sock.last_seq.get(conv, 0):
                            step.out_of_order += 1
                        else:
                            sock.last_seq[conv] = seq
                    from_visitor = step.from_visitor(k)
                    if (sock.role == "visitor") == from_visitor:
                        continue  # the hub's echo to the sender: not a delivery
                    if step.delivered[k]:
                        step.dup_deliveries += 1
                        continue
                    step.delivered[k] = 1
                    step.deliveries += 1
                    step.last_delivery = now
                    (step.v2a if from_visitor else step.a2v).append(now - step.due(k))
                    step.check_complete()
                elif kind == "ack":
                    cid = frame.get("client_id")
                    if cid is None:
                        continue
                    sid, _, index = cid.partition("-")
                    step = steps.get(sid)
                    if step is None:
                        continue
                    k = int(index)
                    if step.acked[k]:
                        step.dup_acks += 1
                        continue
                    step.acked[k] = 1
                    step.acks += 1
                    step.ack_lat.append(now - step.due(k))
                    step.check_complete()
                elif kind == "offer":
                    await ws.send(
                        orjson.dumps({"type": "accept", "offer_id": frame["offer_id"]}), text=True
                    )
                elif kind == "assigned" and sock.role == "agent":
                    self._agent_of[frame["conversation_id"]] = sock
                    self._assigned.set()
                elif kind == "error":
                    self.errors[str(frame.get("code"))] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection closed under us
            self.closed += 1
            self.errors[f"closed: {type(exc).__name__}: {exc}"[:120]] += 1

    # -- relay: one fixed-rate step ----------------------------------------------------------
    async def step(self, sid: str, rate: float, duration: float, grace: float) -> dict[str, Any]:
        """Send ``rate * duration`` messages at ``rate`` per second, then wait for the answers."""
        convs = self.conversations
        n_conv = len(convs)
        total = max(1, round(rate * duration))
        cpu0, closed0, errors0 = _cpu_s(), self.closed, sum(self.errors.values())
        step = Step(sid, rate, total, n_conv, clock() + 0.02)
        self.steps[sid] = step
        prefix = f"{sid}-"
        dumps = orjson.dumps
        lag = step.send_lag
        t0 = step.t0
        k = 0
        await asyncio.sleep(max(0.0, t0 - clock()))
        while k < total:
            due_now = min(total, int((clock() - t0) * rate) + 1)
            while k < due_now:
                cid, visitor, agent = convs[k % n_conv]
                sock = visitor if (k // n_conv) % 2 == 0 else agent
                frame = {
                    "type": "message",
                    "conversation_id": cid,
                    "client_id": prefix + str(k),
                    "text": TEXT,
                }
                await sock.ws.send(dumps(frame), text=True)
                k += 1
            lag.append(clock() - (t0 + (k - 1) / rate))
            if k < total:
                await asyncio.sleep(max(0.0, t0 + k / rate - clock()))
        sent_end = clock()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(step.complete.wait(), grace)
        end = clock()
        cpu = _cpu_s() - cpu0
        lost = sum(1 for a, d in zip(step.acked, step.delivered, strict=True) if a and not d)
        unacked = total - step.acks
        in_grace = step.deliveries
        # An overloaded server may still be draining its backlog: wait while frames keep
        # coming (bounded), so that "late" and "never delivered" can be told apart.
        settle_until = clock() + SETTLE_MAX_S
        while not step.complete.is_set() and clock() < settle_until:
            progress = (step.acks, step.deliveries)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(step.complete.wait(), 1.0)
            if (step.acks, step.deliveries) == progress:
                break
        never = sum(1 for a, d in zip(step.acked, step.delivered, strict=True) if a and not d)
        span = max(step.last_delivery - t0, 1e-9)
        return {
            "sent": total,
            "send_s": round(sent_end - t0, 3),
            "acks": step.acks,
            "deliveries": step.deliveries,
            "lost": lost,
            "late": step.deliveries - in_grace,
            "never_delivered": never,
            "unacked": unacked,
            "undelivered": total - in_grace,
            "duplicated": step.dup_deliveries,
            "duplicate_acks": step.dup_acks,
            "out_of_order": step.out_of_order,
            "delivery_span_s": round(span, 3),
            "achieved_msg_s": round(step.deliveries / span, 1),
            "connections_closed": self.closed - closed0,
            "errors": sum(self.errors.values()) - errors0,
            "error_kinds": dict(self.errors),
            "cpu_s": round(cpu, 3),
            "wall_s": round(end - t0, 3),
            "cpu_pct": round(100 * cpu / max(end - t0, 1e-9), 1),
            "lat_v2a": step.v2a.tobytes(),
            "lat_a2v": step.a2v.tobytes(),
            "lat_ack": step.ack_lat.tobytes(),
            "send_lag": lag.tobytes(),
        }

    async def forget(self, sid: str) -> None:
        self.steps.pop(sid, None)


async def _expect(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """Read frames until one of type ``kind``; an ``error`` frame first is a failure."""
    while True:
        frame = orjson.loads(await ws.recv(decode=False))
        if frame.get("type") == kind:
            return dict(frame)
        if frame.get("type") == "error":
            raise GeneratorError(f"expected {kind!r}, got {frame}")


def _login(http_url: str, username: str, password: str) -> str:
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(
        f"{http_url}/api/v1/auth/login", data=body, headers={"content-type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(request, timeout=30) as response:
        return str(json.loads(response.read())["token"])
