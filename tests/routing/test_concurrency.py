"""Several OS processes route, accept, decline and release against one Redis at once; the
invariants hold throughout (sampled from atomic snapshots) and at the end."""

from __future__ import annotations

import asyncio
import multiprocessing
import time

import pytest
import redis.asyncio as aioredis

from routing import Router
from routing.config import parse_config
from tests.routing import _worker
from tests.routing.invariants import Checker
from tests.support.redis_server import RedisServer

# No time-driven eligibility (relaxation, preferred windows, cooldowns): every process has its
# own clock, and the sampler judges the state at its own "now".
CONFIG = {
    "offer_timeout_s": 2,
    "reoffer_cooldown_s": 0,
    "heartbeat_timeout_s": 60,
    "languages": ["en", "es"],
    "topics": {
        "general": {"topic_level": 1, "language_level": 1, "relax": []},
        "billing": {"topic_level": 3, "language_level": 2, "relax": []},
    },
}
PROCESSES = 3
SECONDS = 4.0


@pytest.mark.timeout(120)
async def test_processes_route_concurrently(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    config = parse_config(CONFIG)
    sampler = Router(client, config, node_id="sampler")
    checker = Checker(config)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker.work, args=(redis_server.url, CONFIG, i, SECONDS, results))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    samples = 0
    problems: list[str] = []
    try:
        while any(p.is_alive() for p in procs):
            snap = await sampler.snapshot(time.time())
            problems += checker.problems(snap, round(time.time() * 1000), new_offers=False)
            samples += 1
            await asyncio.sleep(0.02)
        reports = [results.get(timeout=10) for _ in procs]
        for p in procs:
            p.join(10)
        assert [p.exitcode for p in procs] == [0] * PROCESSES, reports
        assert all(err is None for _, _, err in reports), reports
        snap = await sampler.snapshot(time.time())
        problems += checker.problems(snap, round(time.time() * 1000), new_offers=False)
        assert not problems, "\n".join(problems[:20])
        totals = {k: sum(r[1][k] for r in reports) for k in reports[0][1]}
        assert totals["requests"] > 100 and totals["accepted"] > 50 and totals["released"] > 50
        assert samples > 20
        # Accounting: every request is offered, waiting, active, or was released.
        stats = await sampler.stats(time.time())
        assert stats["counters"]["requests"] == totals["requests"]
        assert stats["counters"]["released"] == totals["released"]
        live = stats["totals"]["waiting"] + stats["totals"]["offered"] + stats["totals"]["active"]
        assert live + totals["released"] == totals["requests"]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        results.close()
        await client.aclose()
