"""Routing: full cycles per second — arrive → offer → accept → release — on one Redis.

Setup: a private redis-server (tests.support.redis_server.RedisServer), the shipped default
configuration, ``AGENTS`` agents online with the ``general`` and ``en`` skills and room for every
cycle in flight, so each arrival is offered at once and each decision weighs ``AGENTS``
candidates (and records them in its explanation).

Throughput (``cycles_per_s``): ``TASKS`` asyncio tasks run cycles concurrently, and each task
pipelines ``BATCH`` independent cycles per round trip with ``Router.batch()``: one round trip
carries ``BATCH`` ``request`` calls, the next their ``accept`` calls, the next their ``release``
calls. Every call is still its own atomic Lua script doing the full work (eligibility, ranking,
explanation, events, queue positions); only the transport is batched, so the Python client's
per-command overhead does not hide the router's cost. ``redis_us_per_cycle`` is the server-side
script time per cycle (INFO commandstats) — the hard ceiling is 1e6 / that on one Redis core.

Latency (``script_call_us``): mean wall time of one awaited script call (request, accept and
release in turn) issued one at a time through the plain Router API. Baseline, measured in the
same run on the same client: one awaited PING (``roundtrip_us``; ``roundtrips_per_s`` is its
inverse — the sequential ceiling of any one-call-at-a-time client). ``ratio`` =
script_call_us / roundtrip_us; the target is a script call within 4× a plain round trip.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from routing import ConversationRequest, Router, default_config
from tests.support.redis_server import RedisServer

AGENTS = 8
TASKS = 4
BATCH = 128
NOW = 1_000_000.0  # the router's clock is an input; a fixed time keeps the run deterministic


async def _setup(client: aioredis.Redis, cycles_in_flight: int) -> Router:
    await client.flushall()
    router = Router(client, default_config(), node_id="bench")
    await router.heartbeat(NOW)
    capacity = max(1, -(-cycles_in_flight // AGENTS))
    for i in range(AGENTS):
        await router.upsert_agent(f"agent-{i}", {"general": 3, "en": 3}, capacity, NOW)
        await router.set_status(f"agent-{i}", "online", NOW)
    return router


async def _script_usec(client: aioredis.Redis) -> tuple[float, int, float]:
    """(wall µs inside scripts, script calls, server CPU seconds) so far."""
    stats = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    cpu = await client.info("cpu")
    return (
        float(stats.get("usec", 0)),
        int(stats.get("calls", 0)),
        float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
    )


async def _throughput(client: aioredis.Redis, cycles: int) -> dict[str, Any]:
    router = await _setup(client, TASKS * BATCH)
    per_task = cycles // TASKS

    async def task(t: int) -> int:
        done = 0
        while done < per_task:
            ids = [f"t{t}-{done + i}" for i in range(min(BATCH, per_task - done))]
            batch = router.batch()
            for cid in ids:
                batch.request(ConversationRequest(cid, "general", "en"), NOW)
            routed = await batch.execute()
            for r in routed:
                assert r.offer is not None, r
                batch.accept(r.offer.offer_id, r.offer.agent_id, NOW)
            for a in await batch.execute():
                assert a.agent_id, a
            for cid in ids:
                batch.release(cid, NOW)
            for r in await batch.execute():
                assert r == [], r
            done += len(ids)
        return done

    usec0, calls0, cpu0 = await _script_usec(client)
    started, client_cpu = time.perf_counter(), time.process_time()
    total = sum(await asyncio.gather(*(task(t) for t in range(TASKS))))
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    usec1, calls1, cpu1 = await _script_usec(client)
    stats = await router.stats(NOW)
    assert stats["counters"]["requests"] == stats["counters"]["released"] == total
    assert stats["totals"]["load"] == 0 and stats["totals"]["waiting"] == 0
    return {
        "cycles": total,
        "cycles_per_s": round(total / elapsed),
        "redis_us_per_cycle": round((usec1 - usec0) / total, 1),
        "redis_us_per_script": round((usec1 - usec0) / max(1, calls1 - calls0), 1),
        "redis_cpu_us_per_cycle": round((cpu1 - cpu0) / total * 1e6, 1),
        "client_cpu_us_per_cycle": round(client_cpu / total * 1e6, 1),
    }


async def _latency(client: aioredis.Redis, cycles: int) -> dict[str, float]:
    router = await _setup(client, cycles)
    for _ in range(200):  # warm up the connection and the script cache
        await client.ping()
    started = time.perf_counter()
    for _ in range(cycles * 3):
        await client.ping()
    roundtrip_us = (time.perf_counter() - started) / (cycles * 3) * 1e6
    started = time.perf_counter()
    for i in range(cycles):
        result = await router.request(ConversationRequest(f"lat-{i}", "general", "en"), NOW)
        assert result.offer is not None
        await router.accept(result.offer.offer_id, result.offer.agent_id, NOW)
        await router.release(f"lat-{i}", NOW)
    script_call_us = (time.perf_counter() - started) / (cycles * 3) * 1e6
    return {"roundtrip_us": roundtrip_us, "script_call_us": script_call_us}


async def _run(quick: bool) -> dict[str, Any]:
    cycles, latency_cycles = (12_000, 1_500) if quick else (60_000, 5_000)
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url, max_connections=TASKS + 2)
        try:
            latency = await _latency(client, latency_cycles)
            throughput = await _throughput(client, cycles)
        finally:
            await client.aclose()
    ratio = latency["script_call_us"] / latency["roundtrip_us"]
    return {
        "cycles_per_s": throughput["cycles_per_s"],
        "script_call_us": round(latency["script_call_us"], 1),
        "baseline": {
            "roundtrips_per_s": round(1e6 / latency["roundtrip_us"]),
            "roundtrip_us": round(latency["roundtrip_us"], 1),
        },
        "ratio": round(ratio, 2),
        "targets": {
            "cycles_per_s>=5000": throughput["cycles_per_s"] >= 5000,
            "script_within_4x_roundtrip": ratio <= 4.0,
        },
        "redis_us_per_cycle": throughput["redis_us_per_cycle"],
        "redis_us_per_script": throughput["redis_us_per_script"],
        "redis_cpu_us_per_cycle": throughput["redis_cpu_us_per_cycle"],
        "client_cpu_us_per_cycle": throughput["client_cpu_us_per_cycle"],
        "setup": {"agents": AGENTS, "tasks": TASKS, "batch": BATCH, "cycles": throughput["cycles"]},
    }


def run(quick: bool) -> dict[str, Any]:
    """Start a private Redis, measure, return the figures (see the module docstring)."""
    return asyncio.run(_run(quick))
