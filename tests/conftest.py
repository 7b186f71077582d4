from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser

from tests.support.browser import ARTIFACTS, Shots, chromium
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the session; tests that kill it use `private_redis`."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to be killed, flushed and restarted."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium for the browser tests (widget, console, dashboard, admin)."""
    async with chromium() as b:
        yield b


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """Screenshots to test-artifacts/<the test's folder>/<the test>/."""
    folder = request.path.parent.name
    return Shots(ARTIFACTS / folder / re.sub(r"[^\w.-]+", "_", request.node.name))
