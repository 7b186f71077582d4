"""Queue updates: what keeping every waiting visitor told where they stand costs the hubs.

Setup: a private Redis and two hub processes (bench._servers.HubStack), no agent online, N
visitors (20,000; quick: 2,000) spread over both hubs, each a plain WebSocket client of the wire
protocol that said `hello` and then `start` (sent at ``START_RATE`` a second; every one answered
`queued`). Each hub follows its own waiting visitors (chatserver/core/queue_positions.py): on every
tick (0.5 s) it reads the positions of those due a look (every second near the front, up to
every 10 s far back) in one pipelined round trip and sends a `queue` frame to each one whose
position or estimate changed.

Hub CPU (user + system, psutil) is sampled per hub over ``WINDOW_S`` seconds in three phases:

* ``connected`` (baseline) — the N sockets open and welcomed, nothing waiting: what the hubs
  spend anyway (keep-alives, ticks, heartbeats).
* ``waiting_still`` — the N waiting, the queue not moving: every tick still reads every
  position (no frame goes out, nothing changed).
* ``waiting_moving`` — the N waiting while the first visitor leaves (`close`) every
  ``MOVE_EVERY_S``: every position changes twice a second, so every visitor is due a frame at
  every look — the most the hubs ever send.

Figures: CPU % of one core per hub in each phase, the queue-update share (``moving −
connected``), `queue` frames received per second in all, the shortest time between two frames
to one visitor and how many gaps were under 0.9 s (the protocol's floor is a second; measured
at the client, so delivery jitter counts), and how many waiting visitors heard nothing in the window (every one should have: a
visitor is looked at at least every 10 s). ``ratio`` = moving over connected CPU, per hub.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench._servers import HubStack, raise_fd_limit

N = 20_000
QUICK_N = 2_000
START_RATE = 400.0  # starts a second over both hubs: well within what they take
WINDOW_S = 12.0  # longer than the longest interval between looks (10 s)
MOVE_EVERY_S = 0.5
SETTLE_S = 11.0
TARGET_CPU_PCT = 25.0  # queue updates for 10,000 visitors: at most a quarter of a core per hub


class _Visitor:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.conversation_id: str | None = None
        self.queued = asyncio.Event()
        #: Receive times of `queue` frames (event-loop clock), and the positions they said.
        self.updates: list[float] = []
        self.positions: list[int] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "queue":
                    self.updates.append(loop.time())
                    self.positions.append(frame["position"])
                elif kind == "queued":
                    self.conversation_id = frame["conversation_id"]
                    self.queued.set()
        except ConnectionClosed:
            pass


async def _open(url: str, gate: asyncio.Semaphore) -> _Visitor:
    async with gate:
        ws = await connect(url, compression=None, open_timeout=60, max_size=2**20)
        await ws.send(orjson.dumps({"type": "hello", "token": None}))
        while orjson.loads(await ws.recv()).get("type") != "welcome":
            pass
    return _Visitor(ws)


def _cpu_pct(procs: list[psutil.Process], window_s: float) -> list[float]:
    before = [p.cpu_times() for p in procs]
    t0 = time.perf_counter()
    time.sleep(window_s)
    elapsed = time.perf_counter() - t0
    after = [p.cpu_times() for p in procs]
    return [
        round(100 * ((a.user + a.system) - (b.user + b.system)) / elapsed, 1)
        for a, b in zip(after, before, strict=True)
    ]


class _Clients:
    """One hub's visitors, in a process of their own (20,000 sockets do not fit in one
    process's descriptor limit here). Driven by commands over a pipe; each answers when done."""

    def __init__(self, url: str, n: int, rate: float) -> None:
        self.url, self.n, self.rate = url, n, rate
        self.visitors: list[_Visitor] = []
        self.marks: dict[str, float] = {}
        self.closed = 0
        self.moving: asyncio.Task[None] | None = None

    async def handle(self, command: str) -> Any:
        loop = asyncio.get_running_loop()
        if command == "open":
            gate = asyncio.Semaphore(100)
            self.visitors = list(
                await asyncio.gather(
                    *(_open(f"{self.url}/ws/visitor", gate) for _ in range(self.n))
                )
            )
        elif command == "start":
            frame = orjson.dumps({"type": "start", "topic": "general", "language": "en"})
            t0 = loop.time()
            for k, v in enumerate(self.visitors):
                due = t0 + k / self.rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                await v.ws.send(frame)
            await asyncio.wait_for(asyncio.gather(*(v.queued.wait() for v in self.visitors)), 300)
        elif command == "move":
            self.moving = asyncio.create_task(self._move())
        elif command == "stop":
            if self.moving is not None:
                self.moving.cancel()
        elif command.startswith("mark:"):
            self.marks[command[5:]] = loop.time()
        elif command == "report":
            return self._report()
        return None

    async def _move(self) -> None:
        # Two processes, one queue: each closes its own earliest every 2 x MOVE_EVERY_S.
        while True:
            v = self.visitors[self.closed]
            self.closed += 1
            await v.ws.send(orjson.dumps({"type": "close", "conversation_id": v.conversation_id}))
            await asyncio.sleep(2 * MOVE_EVERY_S)

    def _report(self) -> dict[str, Any]:
        m = self.marks
        still = sum(1 for v in self.visitors for t in v.updates if m["still"] <= t < m["moving"])
        start, end = m["window"], m["end"]
        frames = sum(1 for v in self.visitors for t in v.updates if start <= t < end)
        # A visitor who becomes first is told at once (the router's event), whatever the
        # interval: only the gaps before a frame of position > 1 are held to the floor.
        gaps = [
            b - a
            for v in self.visitors
            for (a, b), position in zip(itertools.pairwise(v.updates), v.positions[1:], strict=True)
            if a >= start and position > 1
        ]
        unheard = sum(
            1 for v in self.visitors[self.closed :] if not any(start <= t < end for t in v.updates)
        )
        return {
            "still_frames": still,
            "frames": frames,
            "seconds": end - start,
            "shortest_gap_s": min(gaps, default=None),
            "gaps": len(gaps),
            "gaps_under_0_9_s": sum(1 for g in gaps if g < 0.9),
            "unheard": unheard,
        }


def _client_process(url: str, n: int, rate: float, conn: Any) -> None:
    async def main() -> None:
        clients = _Clients(url, n, rate)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "exit":
                break
            conn.send(await clients.handle(command))
        for v in clients.visitors:
            v.task.cancel()
        await asyncio.gather(*(v.ws.close() for v in clients.visitors), return_exceptions=True)

    asyncio.run(main())


def _phases(ws_urls: list[str], n: int, procs: list[psutil.Process]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for url in ws_urls:
        parent, child = ctx.Pipe()
        worker = ctx.Process(
            target=_client_process, args=(url, n // len(ws_urls), START_RATE / len(ws_urls), child)
        )
        worker.start()
        pipes.append(parent)
        workers.append(worker)

    def everyone(command: str) -> list[Any]:
        for p in pipes:
            p.send(command)
        return [p.recv() for p in pipes]

    try:
        everyone("open")
        connected = _cpu_pct(procs, WINDOW_S)
        everyone("start")
        # Arrival times are the hubs' clocks when each start began, so a start that took longer
        # to reach the router may still land ahead of one already told its place: those
        # corrections go out within the longest interval between looks (10 s). Let them.
        time.sleep(SETTLE_S)
        everyone("mark:still")
        still = _cpu_pct(procs, WINDOW_S)
        everyone("mark:moving")
        everyone("move")
        time.sleep(2.0)  # the queue is moving before the window opens
        everyone("mark:window")
        moving = _cpu_pct(procs, WINDOW_S)
        everyone("mark:end")
        everyone("stop")
        reports = everyone("report")
        for p in pipes:
            p.send("exit")
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    gaps = [r["shortest_gap_s"] for r in reports if r["shortest_gap_s"] is not None]
    return {
        "connected": connected,
        "still": still,
        "still_frames": sum(r["still_frames"] for r in reports),
        "moving": moving,
        "frames_per_s": round(sum(r["frames"] / r["seconds"] for r in reports)),
        "shortest_gap_s": round(min(gaps), 3) if gaps else None,
        "gaps": sum(r["gaps"] for r in reports),
        "gaps_under_0_9_s": sum(r["gaps_under_0_9_s"] for r in reports),
        "unheard": sum(r["unheard"] for r in reports),
    }


def run(quick: bool) -> dict[str, Any]:
    raise_fd_limit(65_536)
    n = QUICK_N if quick else N
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as folder:
        stack = HubStack(Path(folder) / "data", processes=2)
        stack.start({}, 1)
        try:
            procs = [psutil.Process(pid) for pid in stack.hub_pids]
            got = _phases([s.ws for s in stack.servers], n, procs)
            tracebacks = stack.tracebacks()
        finally:
            stack.stop()
    share = [round(m - c, 1) for m, c in zip(got["moving"], got["connected"], strict=True)]
    per_hub = n // 2
    # the target is stated for 10,000 visitors a hub; a smaller run is held to its share
    target = TARGET_CPU_PCT * per_hub / 10_000
    return {
        "visitors": n,
        "hubs": 2,
        "cpu_pct": {
            "connected": got["connected"],
            "waiting_still": got["still"],
            "waiting_moving": got["moving"],
        },
        "queue_update_cpu_pct": share,
        "frames_per_s": got["frames_per_s"],
        "frames_while_still": got["still_frames"],
        "shortest_gap_between_frames_s": got["shortest_gap_s"],
        "gaps_between_frames": got["gaps"],
        "gaps_under_0_9_s": got["gaps_under_0_9_s"],
        "waiting_visitors_not_told_in_12_s": got["unheard"],
        "baseline": {"connected_cpu_pct": got["connected"]},
        "ratio": [
            round(m / c, 2) if c else None
            for m, c in zip(got["moving"], got["connected"], strict=True)
        ],
        "ratio_of": "hub CPU with the queue moving / with the same sockets connected, per hub",
        "targets": {
            f"queue_updates_under_{target:g}pct_of_a_core_per_hub": max(share) <= target,
            # Measured where the frames arrive: a client process reading 10,000 sockets adds
            # its own delays, so a gap can look shorter than the hub made it (the hub never
            # looks twice within a second). Held: at most 1 gap in 1,000 under 0.9 s.
            "at_most_one_frame_a_second_per_visitor": got["gaps_under_0_9_s"] <= got["gaps"] / 1000,
            "every_waiting_visitor_told_within_12_s": got["unheard"] == 0,
            "no_frames_while_the_queue_stands_still": got["still_frames"] == 0,
            "no_tracebacks": not tracebacks,
        },
    }
