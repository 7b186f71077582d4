"""Fixtures for the transcript store tests.

The contract tests (``test_contract_*.py``) take the ``make_store`` factory and run against
every store URL listed in ``STORES``, through `open_store` as the hub opens its store; each
call of the factory gives a new, unopened store on the SAME database of this test, so
reopening can be tested too. The PostgreSQL one is a fresh database of the test's own on the
session's private cluster (tests/support/postgres_server.py).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator, Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

from chatserver.store import (
    ConversationRecord,
    Store,
    TranscriptStore,
    VisitorRecord,
    iso_now,
    open_store,
)

StoreFactory = Callable[[], Store]
SPAWN = multiprocessing.get_context("spawn")

#: A URL per implementation; ``{tmp}`` is the test's own folder, ``{postgresql}`` a fresh
#: database of the test's own (the ``postgres_url`` fixture).
STORES = ["sqlite:///{tmp}/transcripts.db", "{postgresql}"]


def backend(url: str) -> str:
    """The test id of a STORES entry: its scheme (sqlite, postgresql)."""
    return url.split(":", 1)[0].strip("{}")


def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of this test's database for the STORES entry a fixture is parametrized with
    (``@pytest.fixture(params=STORES, ids=backend)``): other folders' store tests use it too."""
    template = str(request.param)
    postgresql = request.getfixturevalue("postgres_url") if "{postgresql}" in template else ""
    return template.format(tmp=tmp_path, postgresql=postgresql)


@pytest.fixture(params=STORES, ids=backend)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    url = store_url(request, tmp_path)
    return lambda: open_store(url)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Store]:
    opened = make_store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def seed(store: TranscriptStore, count: int = 1, *, visitor: str = "v1") -> list[str]:
    """One visitor and ``count`` queued conversations of theirs; returns the conversation ids."""
    now = iso_now()
    if await store.get_visitor(visitor) is None:
        await store.add_visitor(
            VisitorRecord(id=visitor, token_hash=f"hash-{visitor}", site="default", created_at=now)
        )
    ids = []
    for n in range(count):
        cid = f"{visitor}-c{n}"
        await store.add_conversation(
            ConversationRecord(
                id=cid,
                visitor_id=visitor,
                site="default",
                topic="billing",
                language="en",
                status="queued",
                created_at=now,
            )
        )
        ids.append(cid)
    return ids


@pytest.fixture
def spawn() -> Iterator[Callable[..., BaseProcess]]:
    """Start a child process (spawned, daemonic); any still alive at teardown is killed."""
    started: list[BaseProcess] = []

    def start(target: Callable[..., None], *args: object) -> BaseProcess:
        proc = SPAWN.Process(target=target, args=args, daemon=True)
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.is_alive():
            proc.kill()
        proc.join(10)


async def receive(recv: Connection, timeout: float = 60) -> Any:
    """The next message from a child, without blocking the loop; fails if none comes."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, recv.poll, timeout):
        raise AssertionError(f"no message from the child process in {timeout} s")
    return recv.recv()
