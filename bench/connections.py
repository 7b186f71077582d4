"""Connections: idle WebSockets held by one hub process — memory per connection and idle CPU.

Setup: a private redis-server and one ``chatserver serve`` process (per-message deflate off, see
``per_message_deflate`` in the result). The open-file limit is raised as far as the system lets
the benchmark and the processes it starts; one socket is one descriptor, so the connection count
is capped at the server's limit less a reserve (``fd_limited`` says when). The clients spread over
several source addresses (127.0.0.2 …) so that the kernel's ephemeral ports do not run out.

Measured:

1. the server's RSS and CPU with no client, after a warm-up (``warmup`` connections opened,
   hello'd and closed, so lazily built code paths are not counted);
2. ``generators`` load-generator processes open ``connections`` visitor sockets between them,
   ``concurrency`` at a time each; every socket sends ``hello {token: null}`` and waits for its
   ``welcome`` — the hub creates and stores a visitor and its token for each — then stays idle
   (the server pings it every ``WS_PING_INTERVAL_S``, 30 s, and the client answers);
3. after ``settle_s``: the server's RSS → ``rss_per_connection_kib`` = (RSS − RSS before) / N,
   then its CPU over ``idle_s`` seconds with every socket idle (``idle_cpu_pct``, % of one core;
   a whole keepalive round, so that each socket is pinged once in the window), and how many
   sockets are still open.

Baseline, same run, same clients: the bare relay (``_bare_relay``: the hub's uvicorn settings —
the same keepalive pings, no proxy headers, no Server header — and no hub) holding the same
number of idle sockets, each joined to a room of its own. ``ratio`` = the hub's bytes per connection /
the bare relay's (how much the hub adds to what the stack costs).
The bare relay's idle CPU is measured only when ``baseline_idle_s`` is set (not with --quick).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import Generator, call_all
from bench._servers import (
    PER_MESSAGE_DEFLATE,
    BareRelay,
    CPUMeter,
    HubStack,
    load_average,
    open_files,
    raise_fd_limit,
    rss_bytes,
)
from chatserver.cli import WS_PING_INTERVAL_S

TARGET_CONNECTIONS = 20_000
TARGET_KIB = 20.0
PING_INTERVAL_S = WS_PING_INTERVAL_S  # the hub's keepalive (the bare relay keeps uvicorn's 20 s)
WARMUP = 100
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
FD_RESERVE = 200  # descriptors the server may still open for itself (Redis pool, SQLite files)


@dataclass(frozen=True)
class Plan:
    connections: int = TARGET_CONNECTIONS
    generators: int = 2
    concurrency: int = 100  # handshakes in flight per generator
    settle_s: float = 1.0
    # Idle CPU is mostly uvicorn's keepalive: one ping per socket every PING_INTERVAL_S, at
    # times set by when each socket opened. Only a window of a whole interval sees each socket
    # pinged exactly once, whatever those times: a shorter one over- or under-counts.
    idle_s: float = PING_INTERVAL_S
    baseline_idle_s: float = 0.0  # the bare relay's idle CPU: 0 skips it (saves --quick time)
    quiet_s: float = 1.0  # the server's CPU with no client
    warmup: int = WARMUP


QUICK = Plan()
FULL = Plan(idle_s=2 * PING_INTERVAL_S, baseline_idle_s=40.0)  # the bare relay: 2 × 20 s


def run(quick: bool) -> dict[str, Any]:
    return measure(QUICK if quick else FULL)


def measure(plan: Plan) -> dict[str, Any]:
    limit = raise_fd_limit(plan.connections + 4096)
    load = load_average()
    hello = '{"type":"hello","token":null}'
    with tempfile.TemporaryDirectory(prefix="bench-connections-") as tmp:
        stack = HubStack(Path(tmp) / "data")
        try:
            stack.start({}, 1)
            pid = stack.hub_pids[0]
            url = f"{stack.servers[0].ws}/ws/visitor"
            hub = _hold(plan, pid, url, hello, "welcome", plan.idle_s)
        finally:
            stack.stop()
        relay = BareRelay(Path(tmp))
        try:
            relay.start()
            join = '{"type":"join","conversation_id":"idle-{i}"}'
            bare = _hold(plan, relay.pid, relay.ws, join, "joined", plan.baseline_idle_s)
        finally:
            relay.stop()
    per_conn = hub["rss_per_connection_kib"]
    ratio = per_conn / bare["rss_per_connection_kib"] if bare["rss_per_connection_kib"] else 0.0
    held = hub["held"]
    return {
        **hub,
        "baseline": {
            "what": "bare Starlette WebSocket relay (bench/_bare_relay.py), same uvicorn settings",
            **bare,
        },
        "ratio": round(ratio, 3),
        "ratio_of": "RSS per idle connection: hub / bare relay",
        "per_message_deflate": PER_MESSAGE_DEFLATE,
        "ping_interval_s": PING_INTERVAL_S,
        "open_file_limit": limit,
        "plan": asdict(plan),
        "loadavg_1m_before": load,
        "targets": {
            f"connections>={TARGET_CONNECTIONS}": held >= TARGET_CONNECTIONS
            and hub["still_open"] >= TARGET_CONNECTIONS,
            f"rss_per_connection<={TARGET_KIB:g}KiB": per_conn <= TARGET_KIB,
        },
    }


def _hold(plan: Plan, pid: int, url: str, hello: str, expect: str, idle_s: float) -> dict[str, Any]:
    """Open ``plan.connections`` idle sockets to the server ``pid`` and measure it."""
    gens: list[Generator] = []
    try:
        for g in range(plan.generators):
            gens.append(Generator(f"loadgen-idle-{g}"))
        call_all(gens, "raise_fd_limit", [{"want": plan.connections + 1024}] * len(gens))
        warm = gens[0].call(
            "idle_open", url=url, count=plan.warmup, hello=hello, expect=expect, sources=SOURCES
        )
        if warm["opened"] != plan.warmup:
            raise RuntimeError(f"warm-up failed: {warm}")
        gens[0].call("idle_close")
        time.sleep(1.0)
        quiet = CPUMeter([pid])
        time.sleep(plan.quiet_s)
        quiet_pct = quiet.pct()
        rss0 = rss_bytes(pid)
        # One socket is one file descriptor: never ask for more than the server may open (a
        # server at its limit spins on accept() errors, which would be measured as idle CPU).
        fd_limit, fds = open_files(pid)
        count = min(plan.connections, fd_limit - fds - FD_RESERVE)
        shares = [
            count // len(gens) + (1 if i < count % len(gens) else 0) for i in range(len(gens))
        ]
        started = time.perf_counter()
        opening = CPUMeter([pid])
        opened = call_all(
            gens,
            "idle_open",
            [
                {
                    "url": url,
                    "count": n,
                    "hello": hello.replace("{i}", f"{g}-{{i}}"),
                    "expect": expect,
                    "sources": SOURCES[g :: len(gens)],
                    "concurrency": plan.concurrency,
                }
                for g, n in enumerate(shares)
            ],
        )
        open_s = time.perf_counter() - started
        open_cpu = opening.pct()
        time.sleep(plan.settle_s)
        rss1 = rss_bytes(pid)
        usage0 = call_all(gens, "usage", [{}] * len(gens))
        idle = CPUMeter([pid])
        time.sleep(idle_s)
        idle_pct = idle.pct() if idle_s > 0 else None
        usage1 = call_all(gens, "usage", [{}] * len(gens))
        alive = sum(call_all(gens, "idle_alive", [{}] * len(gens)))
        held = sum(o["opened"] for o in opened)
        failed = sum(o["failed"] for o in opened)
        failures: dict[str, int] = {}
        for o in opened:
            for kind, n in o["failures"].items():
                failures[kind] = failures.get(kind, 0) + n
        return {
            "connections": count,
            "requested": plan.connections,
            "fd_limited": count < plan.connections,
            "server_open_file_limit": fd_limit,
            "held": held,
            "failed": failed,
            "failures": failures,
            "still_open": alive,
            "open_s": round(open_s, 2),
            "opened_per_s": round(held / open_s, 1) if open_s else 0.0,
            "open_cpu_pct": open_cpu,
            "rss_before_mib": round(rss0 / 2**20, 1),
            "rss_after_mib": round(rss1 / 2**20, 1),
            "rss_per_connection_kib": round((rss1 - rss0) / max(held, 1) / 1024, 2),
            "idle_cpu_pct": idle_pct,
            "idle_window_s": idle_s,
            "idle_cpu_pct_no_clients": quiet_pct,
            "generator_idle_cpu_pct": [
                round(100 * (b["cpu_s"] - a["cpu_s"]) / max(b["wall"] - a["wall"], 1e-9), 1)
                for a, b in zip(usage0, usage1, strict=True)
            ],
            "generator_open_cpu_s": [o["cpu_s"] for o in opened],
            "generator_rss_mib": [round(u["rss_bytes"] / 2**20, 1) for u in usage1],
        }
    finally:
        for gen in gens:
            gen.close()
