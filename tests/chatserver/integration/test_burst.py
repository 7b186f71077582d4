"""A burst of arrivals becomes latency, never an error (issue: the Redis pool ran dry).

1,000 visitors send `start` at the same instant with 1,000 free slots (20 agents × 50), on one
hub, split over two hubs, and while Redis stalls for 200 ms at a time: every one is assigned,
no `start` and no `accept` is answered with an error. Each run's figures (time to the last
assignment, p50/p99 from `start` to `assigned`) are printed and kept in
test-artifacts/burst/<test>.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.browser import ARTIFACTS
from tests.support.burst import BurstResult, run_burst
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow

AGENTS = 20
CAPACITY = 50
VISITORS = 1_000


# These agents accept 50 offers within a second, which no person does: the per-connection
# rate limit (10 frames/s, bursts of 20) would refuse them; and a thousand visitors come from
# one address here, past the per-address caps on connections and new visitors. None of that is
# what is tested here.
UNLIMITED = {
    "CHATSERVER_RATE_PER_S": "1000",
    "CHATSERVER_RATE_BURST": "1000",
    "CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS": "100000",
    "CHATSERVER_NEW_VISITORS_PER_MINUTE": "100000",
}


async def floor(hub: Hub, servers: int = 1, **env: str) -> list[str]:
    """AGENTS agents of CAPACITY chats each, `servers` hub processes; the agents' tokens."""
    for i in range(AGENTS):
        await add_agent(hub.data_dir, f"a{i:02d}", capacity=CAPACITY)
    for _ in range(servers):
        hub.start_server(**UNLIMITED, **env)
    return [await hub.login(f"a{i:02d}") for i in range(AGENTS)]


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` (a loop) while the block runs; cancel it after."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def report(name: str, result: BurstResult) -> None:
    figures = result.summary()
    print(f"\n{name}: {json.dumps(figures)}")
    folder = ARTIFACTS / "burst"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")


def assert_every_one_assigned(result: BurstResult) -> None:
    assert dict(result.start_errors) == {}, result.summary()
    assert dict(result.accept_errors) == {}, result.summary()
    assert result.closed_early == 0, result.summary()
    assert result.assigned == VISITORS, result.summary()
    assert result.accepts == VISITORS, result.summary()


async def test_1000_visitors_at_once_on_one_hub(hub: Hub) -> None:
    tokens = await floor(hub)
    readiness: list[int] = []

    async def watch_readyz() -> None:
        async with httpx.AsyncClient(base_url=hub.server.http) as http:
            while True:
                readiness.append((await http.get("/readyz", timeout=10)).status_code)
                await asyncio.sleep(0.2)

    async with in_background(watch_readyz()):
        result = await run_burst([hub.server.ws], hub.server.ws, tokens, VISITORS)
    report("one_hub", result)
    assert_every_one_assigned(result)
    # Redis was reachable all along, and /readyz said so while the burst queued for it.
    assert len(readiness) >= 5 and set(readiness) == {200}
    # /metrics shows the queue for Redis connections the burst made.
    async with httpx.AsyncClient(base_url=hub.server.http) as http:
        metrics = (await http.get("/metrics")).text
    waits = re.search(r'^chat_redis_pool_wait_seconds_count\{pool="main"\} (\S+)$', metrics, re.M)
    assert waits is not None and float(waits.group(1)) >= VISITORS
    assert re.search(r'^chat_redis_in_flight\{pool="main"\} ', metrics, re.M)
    assert re.search(r'^chat_redis_pool_waiting\{pool="control"\} ', metrics, re.M)


async def test_1000_visitors_at_once_over_two_hubs(hub: Hub) -> None:
    tokens = await floor(hub, servers=2)
    first, second = hub.servers
    result = await run_burst([first.ws, second.ws], second.ws, tokens, VISITORS)
    report("two_hubs", result)
    assert_every_one_assigned(result)


async def test_a_burst_while_redis_stalls_is_slower_not_refused(
    make_hub: Callable[[RedisServer], Hub], private_redis: RedisServer
) -> None:
    hub = make_hub(private_redis)
    try:
        tokens = await floor(hub)
        stalls = 0

        async def stall() -> None:
            # Redis answers nobody for 200 ms out of every 400 while the burst runs.
            nonlocal stalls
            async with aioredis.Redis.from_url(private_redis.url) as admin:
                while True:
                    await admin.client_pause(200, all=True)
                    stalls += 1
                    await asyncio.sleep(0.4)

        async with in_background(stall()):
            result = await run_burst([hub.server.ws], hub.server.ws, tokens, VISITORS)
        report("redis_stalling", result)
        assert stalls >= 2
        assert_every_one_assigned(result)
    finally:
        await hub.close()


async def test_the_test_fails_when_the_pool_cannot_wait(hub: Hub) -> None:
    """The same burst against a pool that may not wait (two connections, 1 ms): refusals, and
    the checks above would see them — the burst tests can fail."""
    tokens = await floor(
        hub, CHATSERVER_REDIS_MAX_CONNECTIONS="2", CHATSERVER_REDIS_POOL_TIMEOUT_S="0.001"
    )
    result = await run_burst([hub.server.ws], hub.server.ws, tokens, 300, timeout_s=30)
    assert result.start_errors["unavailable"] > 0, result.summary()
    with pytest.raises(AssertionError):
        assert_every_one_assigned(result)
