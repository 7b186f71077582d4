"""A burst of arrivals, as a support floor's busiest minute brings them: ``n`` visitors connect
and say ``hello``, then all send ``start`` at one instant (or, for comparison, at a steady
rate), while every agent accepts every offer the moment it arrives. Used by the burst tests
(tests/chatserver/integration/test_burst.py) and the ``burst`` benchmark (bench/burst.py).

Visitors and agents are plain WebSocket clients of the wire protocol (no browser). An agent
whose ``accept`` is answered with a retryable error sends it again with the same ``offer_id``,
after a back-off with jitter, as the console does; every such answer is counted. Visitors do
not retry ``start``: a burst must not need retries, so every error is counted as the failure it
is. Times are taken on this process's event-loop clock, from each visitor's own ``start``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

RETRYABLE = frozenset({"unavailable", "rate_limited", "internal"})


@dataclass
class BurstResult:
    visitors: int
    assigned: int = 0
    start_errors: Counter[str] = field(default_factory=Counter)
    accept_errors: Counter[str] = field(default_factory=Counter)
    accepts: int = 0
    closed_early: int = 0
    #: Seconds from each visitor's `start` to its `assigned`.
    to_assigned_s: list[float] = field(default_factory=list)
    #: Seconds from the first `start` to the last `assigned`.
    time_to_all_s: float | None = None
    #: Seconds the starts took to send (0 for a burst, n / rate for a steady arrival).
    sending_s: float = 0.0

    def percentile(self, p: float) -> float | None:
        if not self.to_assigned_s:
            return None
        ordered = sorted(self.to_assigned_s)
        return ordered[max(math.ceil(p * len(ordered) / 100), 1) - 1]

    def summary(self) -> dict[str, Any]:
        p50, p99 = self.percentile(50), self.percentile(99)
        return {
            "visitors": self.visitors,
            "assigned": self.assigned,
            "start_errors": dict(self.start_errors),
            "accept_errors": dict(self.accept_errors),
            "closed_early": self.closed_early,
            "time_to_all_assigned_s": _round(self.time_to_all_s),
            "to_assigned_p50_s": _round(p50),
            "to_assigned_p99_s": _round(p99),
            "sending_s": _round(self.sending_s),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _open(url: str) -> ClientConnection:
    return await connect(url, compression=None, open_timeout=30, max_size=2**20)


class _Agent:
    def __init__(self, ws: ClientConnection, result: BurstResult) -> None:
        self.ws = ws
        self.result = result
        self.refs: dict[str, str] = {}  # accept ref -> offer id
        self.attempts: Counter[str] = Counter()
        self.retries: set[asyncio.Task[None]] = set()
        self.task = asyncio.create_task(self._read())

    async def _accept(self, offer_id: str) -> None:
        ref = f"a{len(self.refs)}"
        self.refs[ref] = offer_id
        self.attempts[offer_id] += 1
        await self.ws.send(orjson.dumps({"type": "accept", "offer_id": offer_id, "ref": ref}))

    async def _retry(self, offer_id: str) -> None:
        attempt = self.attempts[offer_id]
        await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random() / 2))
        await self._accept(offer_id)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "offer":
                    await self._accept(frame["offer_id"])
                elif kind == "assigned" and frame.get("ref") in self.refs:
                    self.result.accepts += 1
                elif kind == "error" and frame.get("ref") in self.refs:
                    self.result.accept_errors[frame.get("code", "?")] += 1
                    if frame.get("code") in RETRYABLE:
                        retry = asyncio.create_task(self._retry(self.refs[frame["ref"]]))
                        self.retries.add(retry)
                        retry.add_done_callback(self.retries.discard)
        except ConnectionClosed:
            pass


async def agents_online(ws_url: str, tokens: Sequence[str], result: BurstResult) -> list[_Agent]:
    """One connection per token, each `online` and accepting every offer."""
    agents = []
    for token in tokens:
        ws = await _open(f"{ws_url}/ws/agent")
        await ws.send(orjson.dumps({"type": "hello", "token": token}))
        while orjson.loads(await ws.recv()).get("type") != "welcome":
            pass
        await ws.send(orjson.dumps({"type": "status", "status": "online", "ref": "on"}))
        while orjson.loads(await ws.recv()).get("ref") != "on":
            pass
        agents.append(_Agent(ws, result))
    return agents


class _Visitor:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent_at: float | None = None
        self.assigned_at: float | None = None
        self.done = asyncio.Event()


async def _visitor(url: str, gate: asyncio.Semaphore) -> _Visitor:
    async with gate:
        ws = await _open(url)
        await ws.send(orjson.dumps({"type": "hello", "token": None}))
        while orjson.loads(await ws.recv()).get("type") != "welcome":
            pass
    return _Visitor(ws)


async def _follow(v: _Visitor, result: BurstResult) -> None:
    loop = asyncio.get_running_loop()
    try:
        async for raw in v.ws:
            frame = orjson.loads(raw)
            kind = frame.get("type")
            if kind == "assigned":
                v.assigned_at = loop.time()
                result.assigned += 1
                break
            if kind == "error" and frame.get("ref") == "s":
                result.start_errors[frame.get("code", "?")] += 1
                break
    except ConnectionClosed:
        result.closed_early += 1
    finally:
        v.done.set()


async def run_burst(
    visitor_urls: Sequence[str],
    agent_ws_url: str,
    agent_tokens: Sequence[str],
    n: int,
    *,
    rate: float | None = None,
    topic: str = "general",
    language: str = "en",
    timeout_s: float = 120.0,
) -> BurstResult:
    """``n`` visitors (spread over ``visitor_urls``, the hubs' ``ws://`` bases) start at once,
    or at ``rate`` per second when given; returns what they got."""
    result = BurstResult(visitors=n)
    agents = await agents_online(agent_ws_url, agent_tokens, result)
    gate = asyncio.Semaphore(100)
    visitors = await asyncio.gather(
        *(_visitor(f"{visitor_urls[i % len(visitor_urls)]}/ws/visitor", gate) for i in range(n))
    )
    followers = [asyncio.create_task(_follow(v, result)) for v in visitors]
    start = {"type": "start", "topic": topic, "language": language, "ref": "s"}
    loop = asyncio.get_running_loop()
    frame = orjson.dumps(start)
    t0 = loop.time()
    try:
        for k, v in enumerate(visitors):
            if rate is not None:
                due = t0 + k / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            v.sent_at = loop.time()
            await v.ws.send(frame)
        result.sending_s = loop.time() - t0
        await asyncio.wait_for(asyncio.gather(*(v.done.wait() for v in visitors)), timeout_s)
    except TimeoutError:
        pass
    finally:
        for task in followers:
            task.cancel()
        times = [
            (v.sent_at, v.assigned_at)
            for v in visitors
            if v.sent_at is not None and v.assigned_at is not None
        ]
        result.to_assigned_s = [b - a for a, b in times]
        if times:
            result.time_to_all_s = max(b for _, b in times) - t0
        await asyncio.gather(*(v.ws.close() for v in visitors), return_exceptions=True)
        for agent in agents:
            await agent.ws.close()
            agent.task.cancel()
    return result


__all__ = ["BurstResult", "agents_online", "run_burst"]
