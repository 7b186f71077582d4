"""What only the PostgreSQL store has to show: migrations under an advisory lock, several
stores (as several processes or hosts would have) appending to one conversation, and a server
restarted under the hub. The guarantees both stores share are the contract tests'."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from typing import Any

import psycopg
import pytest

from chatserver.store import NotFoundError, StoredEvent, UnavailableError, iso_now, open_store
from chatserver.store.postgres import PostgresStore
from chatserver.store.postgres._migrate import load_migrations
from tests.support.postgres_server import PostgresServer

from . import _procs
from .conftest import SPAWN, receive, seed


@pytest.fixture
def empty_url(postgres_server: PostgresServer) -> str:
    """A database with nothing in it: not a copy of the migrated template."""
    return postgres_server.create_database(f"empty_{random.getrandbits(40):x}")


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql.encode()).fetchall()


async def test_ten_processes_opening_a_fresh_database_at_once_migrate_it_once(
    empty_url: str, spawn: Callable[..., BaseProcess]
) -> None:
    go = SPAWN.Event()
    pipes = [SPAWN.Pipe(duplex=False) for _ in range(10)]
    procs = [spawn(_procs.open_at_once, empty_url, go, send) for _, send in pipes]
    for _, send in pipes:
        send.close()
    go.set()
    for recv, _ in pipes:
        assert await receive(recv) == "ok"
    loop = asyncio.get_running_loop()
    for proc in procs:
        await loop.run_in_executor(None, proc.join, 30)
        assert proc.exitcode == 0
    assert rows(empty_url, "SELECT version FROM schema_version") == [
        (m.version,) for m in load_migrations()
    ]
    async with PostgresStore(empty_url) as store:
        assert await seed(store) == ["v1-c0"]


async def test_a_newer_schema_refuses_to_open(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', '2030-01-01')")
    with pytest.raises(UnavailableError, match="newer than this code"):
        await PostgresStore(postgres_url).open()


async def test_an_unreachable_server_is_unavailable_with_no_password_shown() -> None:
    store = open_store("postgresql://chat:s3cret@127.0.0.1:1/chat")
    assert isinstance(store, PostgresStore)
    store.connect_timeout = 1.0
    with pytest.raises(UnavailableError, match="cannot open the PostgreSQL store") as info:
        await store.open()
    assert "s3cret" not in str(info.value)


async def test_two_stores_append_to_the_same_conversations_gap_free(postgres_url: str) -> None:
    """Two stores, each with its own pool — two server sessions at least, as two hub processes
    on two hosts would have — append to the same conversations at once."""
    async with PostgresStore(postgres_url) as one, PostgresStore(postgres_url) as two:
        conversations = await seed(one, 3)

        async def producer(store: PostgresStore, name: str, n: int) -> list[StoredEvent]:
            acked = []
            for i in range(60):
                conv = conversations[(n + i) % 3]
                acked.append(
                    await store.append(
                        conv,
                        "message",
                        {"text": f"{name}{n}/{i}"},
                        ts=iso_now(),
                        actor_role="visitor",
                        client_id=f"{name}{n}-{i}",
                    )
                )
            return acked

        results = await asyncio.gather(
            *(producer(one, "a", n) for n in range(10)),
            *(producer(two, "b", n) for n in range(10)),
        )
        acked = [event for events in results for event in events]
        assert len(acked) == 1200
        for conv in conversations:
            stored = await two.events(conv)
            assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
            assert (
                sorted((e for e in acked if e.conversation_id == conv), key=lambda e: e.seq)
                == stored
            )
        # the same client_id sent through the other store is a duplicate, not a new event
        first = acked[0]
        again = await two.append(
            first.conversation_id, "message", {"text": "retry"}, ts=iso_now(),
            actor_role="visitor", client_id=first.client_id,
        )  # fmt: skip
        assert again.duplicate and again.seq == first.seq
        assert one.stats.batches < one.stats.events  # appends shared transactions


async def test_two_processes_append_to_the_same_conversations(
    postgres_url: str, spawn: Callable[..., BaseProcess]
) -> None:
    async with PostgresStore(postgres_url) as store:
        conversations = await seed(store, 3)
    go = SPAWN.Event()
    pipes = [SPAWN.Pipe(duplex=False) for _ in range(2)]
    procs = [
        spawn(_procs.append_concurrently, postgres_url, conversations, f"p{n}", 100, go, send)
        for n, (_, send) in enumerate(pipes)
    ]
    for _, send in pipes:
        send.close()
    for recv, _ in pipes:
        assert await receive(recv) == "ready"
    go.set()
    acked = [row for recv, _ in pipes for row in await receive(recv)]
    loop = asyncio.get_running_loop()
    for proc in procs:
        await loop.run_in_executor(None, proc.join, 30)
        assert proc.exitcode == 0
    assert len(acked) == 2 * 20 * 100
    stored = rows(postgres_url, "SELECT conversation_id, seq, client_id FROM events")
    assert sorted(stored) == sorted(acked)  # exactly what was acked, nothing else
    for conv in conversations:
        seqs = sorted(seq for c, seq, _ in stored if c == conv)
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free
    in_commit_order = [
        cid.split("-")[0]
        for (cid,) in rows(postgres_url, "SELECT client_id FROM events ORDER BY rowid")
    ]
    assert sum(a != b for a, b in itertools.pairwise(in_commit_order)) >= 3  # interleaved


@pytest.mark.parametrize("kill_self", [True, False], ids=["right-after-ack", "mid-stream"])
async def test_sigkill_of_a_hub_keeps_every_acked_event(
    postgres_url: str, kill_self: bool, spawn: Callable[..., BaseProcess]
) -> None:
    async with PostgresStore(postgres_url) as store:
        (conv,) = await seed(store)
    recv, send = SPAWN.Pipe(duplex=False)
    proc = spawn(_procs.append_until_killed, postgres_url, conv, send, kill_self)
    send.close()
    acked: list[tuple[int, str]] = []
    want = 1 if kill_self else 200
    while len(acked) < want:
        acked.append(await receive(recv))
    if not kill_self:
        proc.kill()  # SIGKILL, mid-stream: commits may be in flight
    await asyncio.get_running_loop().run_in_executor(None, proc.join, 30)
    assert proc.exitcode == -signal.SIGKILL
    recv.close()
    async with PostgresStore(postgres_url) as reopened:
        stored = {(e.seq, e.client_id) for e in await reopened.events(conv)}
        assert set(acked) <= stored  # acked = committed
        seqs = sorted(seq for seq, _ in stored)
        assert seqs == list(range(1, len(seqs) + 1))
        assert await reopened.last_seq(conv) == len(seqs)


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own, free to be killed and restarted."""
    with PostgresServer() as server:
        yield server


async def test_a_restarted_server_fails_calls_as_unavailable_then_the_store_carries_on(
    private_postgres: PostgresServer,
) -> None:
    url = private_postgres.create_database("chat")
    async with PostgresStore(url, max_connections=4) as store:
        (conv,) = await seed(store)
        acked = [
            await store.append(conv, "message", {"n": n}, ts=iso_now(), actor_role="visitor")
            for n in range(5)
        ]
        private_postgres.kill()
        with pytest.raises(UnavailableError):
            await store.append(conv, "message", {"n": 99}, ts=iso_now(), actor_role="visitor")
        private_postgres.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:  # each pooled connection the kill broke fails once, then is replaced
            try:
                event = await store.append(
                    conv, "message", {"n": 5}, ts=iso_now(), actor_role="visitor", client_id="x"
                )
                break
            except UnavailableError:
                assert loop.time() < deadline
                await asyncio.sleep(0.05)
        stored = await store.events(conv)
        assert stored[: len(acked)] == acked  # nothing acked was lost
        assert event.seq == len(acked) + 1  # and the failed append took no seq
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        with pytest.raises(NotFoundError):
            await store.last_seq("nope")


async def test_a_transaction_left_idle_by_a_frozen_hub_ends_and_frees_its_conversations(
    postgres_url: str,
) -> None:
    """A hub frozen mid-batch (SIGSTOP, a paused VM) or cut off without a reset leaves its
    backend idle inside a transaction, holding the batch's conversations locked: PostgreSQL
    sees no EOF, and every other hub's writer, whose batch names one of them, waits. The store's
    connections end such a transaction after ``idle_transaction_timeout``: the other hub's
    append goes through, and the frozen one's session is gone (when it wakes, its batch fails
    as `UnavailableError` and its clients send again)."""
    async with (
        PostgresStore(postgres_url, idle_transaction_timeout=1.0) as frozen,
        PostgresStore(postgres_url) as other,
    ):
        (conv,) = await seed(frozen)
        loop = asyncio.get_running_loop()
        # The frozen hub's writer as far as the lock of its batch (_writer._LOCK), then no more.
        async with frozen._pool.connection() as conn:  # type: ignore[union-attr]
            await conn.execute("BEGIN")
            await conn.execute(
                "SELECT id, last_seq FROM conversations WHERE id = ANY(%s) FOR UPDATE", [[conv]]
            )
            started = loop.time()
            event = await asyncio.wait_for(
                other.append(conv, "message", {"n": 1}, ts=iso_now(), actor_role="agent"), 15
            )
            assert event.seq == 1
            assert loop.time() - started >= 0.9  # it did wait for the lock: the timeout freed it
            with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
                await conn.execute("SELECT 1")  # the frozen session was ended
        event = await frozen.append(conv, "message", {"n": 2}, ts=iso_now(), actor_role="agent")
        assert event.seq == 2  # and the frozen store carries on with a new connection
