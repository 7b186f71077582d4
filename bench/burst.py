"""Burst: N visitors send `start` at the same instant on one hub with N free slots, against the
same N arriving at a steady rate over ten seconds, in the same run.

Setup per run (a fresh private Redis, store and hub each time, so every run starts from an idle
floor): ``N // 50`` agents of capacity 50 with the ``general`` and ``en`` skills, online, each
accepting every offer the moment it arrives (retrying an accept answered with a retryable
error, as the console does); N visitors connected and welcomed before the clock starts
(tests/support/burst.py). Figures: time from the first `start` to the last `assigned`, p50/p99
from each visitor's `start` to its `assigned`, and every error answered to a `start` or an
`accept` — the target is none at all.

Baseline: the same N arriving at a steady ``STEADY_RATE`` per second (``steady``), well within
what one hub process handles (~280 starts and accepts a second on the 2-core machine of
docs/benchmarks.md), so each arrival meets an idle hub. ``ratio`` = the burst's p99 to
`assigned` over the steady arrivals' p99: what arriving all at once costs each visitor.
"""

from __future__ import annotations

import asyncio
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench._servers import HubStack, raise_fd_limit
from tests.support.burst import BurstResult, run_burst

CAPACITY = 50
STEADY_RATE = 100.0
SIZES = (1_000, 5_000)
QUICK_SIZES = (1_000,)


def _login(http: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{http}/api/v1/auth/login",
        data=orjson.dumps({"username": username, "password": password}),
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        token: str = orjson.loads(response.read())["token"]
    return token


def _metric(http: str, name: str) -> float:
    """A sample of the hub's /metrics (the first line naming it with the main pool)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{http}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name) and 'pool="main"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def one_run(n: int, rate: float | None, env: dict[str, str] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as folder:
        stack = HubStack(Path(folder) / "data", env=env or {})
        stack.start({"general": max(1, n // CAPACITY)}, CAPACITY)
        try:
            server = stack.servers[0]
            tokens = [_login(server.http, u, p) for u, p in stack.agents["general"]]
            result: BurstResult = asyncio.run(
                run_burst([server.ws], server.ws, tokens, n, rate=rate, timeout_s=300)
            )
            figures = result.summary()
            figures["pool_waits"] = int(_metric(server.http, "chat_redis_pool_wait_seconds_count"))
            figures["pool_wait_s"] = round(
                _metric(server.http, "chat_redis_pool_wait_seconds_sum"), 3
            )
            figures["ok"] = (
                result.assigned == n and not result.start_errors and not result.accept_errors
            )
            tracebacks = stack.tracebacks()
            if tracebacks:
                figures["tracebacks"] = [t[-2000:] for t in tracebacks]
                figures["ok"] = False
            return figures
        finally:
            stack.stop()


def run(quick: bool) -> dict[str, Any]:
    raise_fd_limit(65_536)
    sizes = QUICK_SIZES if quick else SIZES
    runs: list[dict[str, Any]] = []
    for n in sizes:
        steady = one_run(n, rate=STEADY_RATE)
        burst = one_run(n, rate=None)
        p99_burst, p99_steady = burst["to_assigned_p99_s"], steady["to_assigned_p99_s"]
        runs.append(
            {
                "n": n,
                "burst": burst,
                "steady": {**steady, "rate_per_s": STEADY_RATE},
                "p99_ratio": round(p99_burst / p99_steady, 2) if p99_burst and p99_steady else None,
            }
        )
    largest = runs[-1]
    return {
        "capacity": CAPACITY,
        "runs": runs,
        "baseline": {"steady_p99_s": largest["steady"]["to_assigned_p99_s"]},
        "ratio": largest["p99_ratio"],
        "targets": {
            f"every_one_of_{r['n']}_assigned_no_errors": bool(
                r["burst"]["ok"] and r["steady"]["ok"]
            )
            for r in runs
        },
    }
