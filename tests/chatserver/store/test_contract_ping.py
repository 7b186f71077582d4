"""`Transcripts.ping`, what /readyz asks of the store: it answers on an open store, refuses
on one that is not open, and on PostgreSQL it neither waits behind a pool busy with work nor
stays broken after the server restarted."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.store import UnavailableError
from chatserver.store.postgres import PostgresStore
from tests.chatserver.store.conftest import StoreFactory
from tests.support.postgres_server import PostgresServer


async def test_ping_answers_an_open_store_and_refuses_a_closed_one(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    with pytest.raises(UnavailableError):
        await store.ping()
    async with store:
        await store.ping()
    with pytest.raises(UnavailableError):
        await store.ping()


async def test_ping_does_not_wait_for_a_pool_busy_with_work(postgres_url: str) -> None:
    async with PostgresStore(postgres_url, max_connections=2) as store:
        pool = store._pool
        assert pool is not None
        release = asyncio.Event()
        held = asyncio.Event()
        holding = 0

        async def hold() -> None:
            nonlocal holding
            async with pool.connection():
                holding += 1
                if holding == 2:
                    held.set()
                await release.wait()

        tasks = [asyncio.create_task(hold()) for _ in range(2)]
        await held.wait()  # every pooled connection is taken: a read would queue now
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(store.get_agent("-"), 0.5)
            await asyncio.wait_for(store.ping(), 5)  # the ping has its own connection
        finally:
            release.set()
            await asyncio.gather(*tasks)


async def test_ping_fails_while_the_server_is_down_and_answers_once_it_is_back() -> None:
    with PostgresServer() as server:
        url = server.create_database("chat")
        async with PostgresStore(url) as store:
            await store.ping()
            server.kill()
            with pytest.raises(UnavailableError):
                await store.ping()
            server.start()
            await store.ping()  # a new connection, not the broken one
