from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser

from tests.support.browser import ARTIFACTS, Shots, chromium
from tests.support.clock import REAL, SHIFTS, shifted
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.stores import on_postgresql, use_postgres

#: The database every test's PostgreSQL database is a copy of: migrated once per session.
POSTGRES_TEMPLATE = "chat_template"
_databases = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `clock_shifted` runs on the real clock and on each of `SHIFTS`."""
    if metafunc.definition.get_closest_marker("clock_shifted") is not None:
        metafunc.parametrize("clock", [REAL, *SHIFTS], indirect=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `sqlite_only` is about SQLite itself: not run on the other backend."""
    if on_postgresql() and item.get_closest_marker("sqlite_only") is not None:
        pytest.skip("about the SQLite store itself (CHATSERVER_TEST_STORE=postgresql)")


@pytest.fixture(scope="session", autouse=True)
def hub_store(request: pytest.FixtureRequest) -> None:
    """With CHATSERVER_TEST_STORE=postgresql, the hubs' databases live on the session's
    cluster (tests/support/stores.py); nothing to set up on SQLite."""
    if on_postgresql():
        use_postgres(request.getfixturevalue("postgres_server"), POSTGRES_TEMPLATE)


@pytest.fixture(autouse=True)
def clock(request: pytest.FixtureRequest) -> Iterator[datetime | None]:
    """The test's clock (tests.support.clock): None on the real one, else the shifted "now" at
    the start. Autouse, so it is set before the test's other fixtures start any process."""
    shift_id = getattr(request, "param", REAL)
    if shift_id == REAL:
        yield None
        return
    with shifted(SHIFTS[shift_id]) as now:
        yield now


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL cluster for the session (initdb in a temporary folder), with a
    migrated template database; tests get a database of their own from `postgres_url`."""
    with PostgresServer() as server:
        _migrate(server.create_database(POSTGRES_TEMPLATE))
        yield server


def _migrate(url: str) -> None:
    """Open (so migrate) and close a PostgreSQL store, on a thread with its own event loop."""
    from chatserver.store.postgres import PostgresStore

    async def run() -> None:
        async with PostgresStore(url):
            pass

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, migrated database of this test's own on the session's cluster."""
    return postgres_server.create_database(f"test_{next(_databases)}", template=POSTGRES_TEMPLATE)


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def browser(clock: datetime | None) -> AsyncIterator[Browser]:
    """Chromium for the browser tests (widget, console, dashboard, admin); on a shifted clock
    every context's pages see the shifted time too."""
    async with chromium(shifted_clock=clock is not None) as b:
        yield b


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """Screenshots to test-artifacts/<the test's folder>/<the test>/."""
    folder = request.path.parent.name
    return Shots(ARTIFACTS / folder / re.sub(r"[^\w.-]+", "_", request.node.name))
