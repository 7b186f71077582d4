"""What is particular to SQLiteStore: migrations, group commit, several processes, crashes."""

from __future__ import annotations

import asyncio
import itertools
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

from chatserver.store import (
    ConversationRecord,
    NotFoundError,
    SQLiteStore,
    StoredEvent,
    UnavailableError,
    VisitorRecord,
    iso_now,
)
from chatserver.store._migrate import apply_migrations, load_migrations, split_statements

from . import _procs
from .conftest import SPAWN, receive, seed

TS = "2026-11-26T04:05:06.123Z"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "hub.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(db) as opened:
        yield opened


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def say(store: SQLiteStore, conv: str, text: str, cid: str | None = None) -> StoredEvent:
    return await store.append(
        conv, "message", {"text": text}, ts=TS, actor_role="visitor", client_id=cid
    )


# --- schema -----------------------------------------------------------------------------------


def test_split_statements_keeps_triggers_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE t (a INTEGER); -- trailing
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET a = a + 1; SELECT 1;
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE t (a INTEGER)")


def test_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"


async def test_migrations_apply_once_and_reopen_is_a_no_op(db: Path) -> None:
    async with SQLiteStore(db):
        pass
    first = rows(db, "SELECT version, name, applied_at FROM schema_version")
    assert [(v, n) for v, n, _ in first] == [(m.version, m.name) for m in load_migrations()]
    async with SQLiteStore(db) as again:
        assert again._writer is not None
        assert await apply_migrations(again._writer, iso_now()) == []
    assert rows(db, "SELECT version, name, applied_at FROM schema_version") == first


async def test_wal_and_foreign_keys_are_on(store: SQLiteStore) -> None:
    assert store._writer is not None and store._reader is not None
    for conn in (store._writer, store._reader):
        assert list(await conn.execute_fetchall("PRAGMA foreign_keys")) == [(1,)]
    assert list(await store._writer.execute_fetchall("PRAGMA journal_mode")) == [("wal",)]


async def test_a_newer_schema_refuses_to_open(db: Path) -> None:
    async with SQLiteStore(db):
        pass
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 'future', ?)", (TS,))
    conn.close()
    store = SQLiteStore(db)
    with pytest.raises(UnavailableError, match="newer"):
        await store.open()
    await store.close()


def test_two_processes_open_a_fresh_file_at_once(db: Path) -> None:
    go = SPAWN.Event()
    pipes = [SPAWN.Pipe(duplex=False) for _ in range(3)]
    procs = [
        SPAWN.Process(target=_procs.open_at_once, args=(str(db), go, send)) for _, send in pipes
    ]
    for proc in procs:
        proc.start()
    go.set()
    for recv, _ in pipes:
        assert recv.poll(60), "a process did not open the store"
        assert recv.recv() == "ok"
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    assert rows(db, "SELECT version FROM schema_version") == [
        (m.version,) for m in load_migrations()
    ]


# --- group commit -----------------------------------------------------------------------------


async def test_concurrent_appends_share_transactions(store: SQLiteStore) -> None:
    conversations = await seed(store, 10)
    before = store.stats
    await asyncio.gather(*(say(store, conversations[n % 10], f"m{n}") for n in range(500)))
    after = store.stats
    assert after.events - before.events == 500
    assert after.batches - before.batches <= 5  # group commit, not one transaction per event
    assert after.batch_mean > 1


async def test_max_batch_bounds_a_transaction(db: Path) -> None:
    async with SQLiteStore(db, max_batch=10) as store:
        (conv,) = await seed(store)
        await asyncio.gather(*(say(store, conv, f"m{n}") for n in range(35)))
        assert store.stats.batches >= 4
        assert [e.seq for e in await store.events(conv)] == list(range(1, 36))


async def test_one_batch_moves_every_last_seq_and_keeps_updates_apart(store: SQLiteStore) -> None:
    """Every touched conversation's last_seq goes in one JSON-fed statement (ids with quotes,
    backslashes and non-ASCII included); rows that also carry ``update=`` fields get them, and
    an untouched conversation keeps its own."""
    now = TS
    await store.add_visitor(VisitorRecord(id="v", token_hash="h", site="default", created_at=now))
    ids = ["plain", 'quo"te', "back\\slash", "ünï-cødé ✓", "untouched"]
    for cid in ids:
        await store.add_conversation(
            ConversationRecord(
                id=cid,
                visitor_id="v",
                site="default",
                topic="billing",
                language="en",
                status="queued",
                created_at=now,
            )
        )
    before = store.stats.batches
    await asyncio.gather(
        *(say(store, cid, f"{cid} {n}") for cid in ids[:4] for n in range(3)),
        store.append(
            ids[1], "assigned", {}, ts=TS, actor_role="system", update={"status": "active"}
        ),
        store.append(ids[2], "closed", {}, ts=TS, actor_role="system", update={"status": "closed"}),
    )
    assert store.stats.batches - before == 1
    got = {c: (await store.get_conversation(c)) for c in ids}
    assert {c: r.last_seq for c, r in got.items() if r} == {
        "plain": 3, 'quo"te': 4, "back\\slash": 4, "ünï-cødé ✓": 3, "untouched": 0,
    }  # fmt: skip
    assert [got[c].status for c in ids if got[c]] == [  # type: ignore[union-attr]
        "queued", "active", "closed", "queued", "queued",
    ]  # fmt: skip
    for cid in ids:
        assert [e.seq for e in await store.events(cid)] == list(range(1, got[cid].last_seq + 1))  # type: ignore[union-attr]


async def test_a_failing_group_fails_alone_within_one_batch(store: SQLiteStore) -> None:
    """The update with an unknown agent breaks a foreign key in SQL: the batch is replayed
    group by group and only that group fails; the others commit in the same batch."""
    a, b = await seed(store, 2)
    before = store.stats.batches
    results = await asyncio.gather(
        say(store, a, "one", "c1"),
        store.append(a, "assigned", {}, ts=TS, actor_role="system", update={"agent_id": "x"}),
        say(store, b, "two"),
        say(store, a, "one again", "c1"),
        say(store, a, "three"),
        return_exceptions=True,
    )
    assert store.stats.batches - before == 1
    assert isinstance(results[1], NotFoundError)
    assert [r.seq for r in results if isinstance(r, StoredEvent)] == [1, 1, 1, 2]
    assert results[3].duplicate is True  # type: ignore[union-attr]
    assert rows(store.path, "SELECT conversation_id, seq FROM events ORDER BY 1, 2") == [
        (a, 1), (a, 2), (b, 1),
    ]  # fmt: skip


async def test_batches_started_behind_a_failing_one_are_put_back_and_commit(db: Path) -> None:
    """With two events a batch, the next batch's BEGIN and reads are sent to the thread while
    one commits; when that commit trips a constraint, the batch behind is rolled back and put
    back, the failing batch is replayed group by group, and every good event lands once, in
    order, with gap-free seqs."""
    async with SQLiteStore(db, max_batch=2) as store:
        a, b = await seed(store, 2)
        bad = {"agent_id": "nobody"}
        calls = []
        for n in range(30):
            if n % 7 == 3:
                calls.append(
                    store.append(a, "assigned", {}, ts=TS, actor_role="system", update=bad)
                )
            else:
                calls.append(say(store, (a, b)[n % 2], f"m{n}", f"c{n}"))
        results = await asyncio.gather(*calls, return_exceptions=True)
        failed = [n for n, r in enumerate(results) if isinstance(r, BaseException)]
        assert failed == [3, 10, 17, 24]
        assert all(isinstance(results[n], NotFoundError) for n in failed)
        for conv in (a, b):
            texts = [e.body["text"] for e in await store.events(conv)]
            sent = [f"m{n}" for n in range(30) if n % 7 != 3 and (a, b)[n % 2] == conv]
            assert texts == sent
            assert [e.seq for e in await store.events(conv)] == list(range(1, len(sent) + 1))


async def test_a_batch_that_fails_in_python_leaves_no_transaction_open(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If planning a batch raises (a bug, say), its callers get the error, the transaction
    its thread began is rolled back, and the next batch commits as usual."""
    from chatserver.store.sqlite import _batch

    (conv,) = await seed(store)
    real_plan = _batch.BatchPlanner.plan
    calls = 0

    def plan_failing_once(self: Any, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("planner bug")
        return real_plan(self, *args)

    monkeypatch.setattr(_batch.BatchPlanner, "plan", plan_failing_once)
    with pytest.raises(RuntimeError, match="planner bug"):
        await say(store, conv, "lost to the bug")
    assert (await say(store, conv, "after")).seq == 1
    await store.update_conversation(conv, priority=3)  # a job on the other connection
    assert [e.body["text"] for e in await store.events(conv)] == ["after"]


async def test_other_writes_take_their_turn_between_batches(store: SQLiteStore) -> None:
    """Writes other than appends queue with them (FIFO), so a flood of appends neither
    starves them nor interleaves with a batch's transaction."""
    conversations = await seed(store, 20)
    stop = asyncio.Event()

    async def flood(n: int) -> int:
        count = 0
        while not stop.is_set():
            await say(store, conversations[n % 20], "flood")
            count += 1
        return count

    producers = [asyncio.create_task(flood(n)) for n in range(200)]
    await asyncio.sleep(0.05)
    for n in range(10):
        updated = await store.update_conversation(conversations[n], priority=n + 1)
        assert updated.priority == n + 1
        assert updated.last_seq <= await store.last_seq(conversations[n])
    stop.set()
    assert sum(await asyncio.gather(*producers)) > 200
    for conv in conversations:
        stored = [e.seq for e in await store.events(conv)]
        assert stored == list(range(1, len(stored) + 1))


async def test_locked_database_fails_the_batch_as_unavailable_then_recovers(db: Path) -> None:
    async with SQLiteStore(db, busy_timeout=0.2) as store:
        (conv,) = await seed(store)
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(UnavailableError) as info:
                await say(store, conv, "blocked")
            assert info.value.code == "unavailable"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert (await say(store, conv, "after")).seq == 1
        assert [e.body["text"] for e in await store.events(conv)] == ["after"]


async def test_a_cancelled_caller_does_not_undo_its_append(store: SQLiteStore) -> None:
    (conv,) = await seed(store)
    task = asyncio.create_task(say(store, conv, "cancelled", "c1"))
    await asyncio.sleep(0)
    task.cancel()
    await store.flush()
    retry = await say(store, conv, "retry", "c1")
    assert retry.duplicate is True and retry.body == {"text": "cancelled"}


async def test_constructor_checks_its_options(db: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteStore(db, synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SQLiteStore(db, max_batch=0)
    store = SQLiteStore(db, synchronous="FULL")
    await store.open()
    with pytest.raises(RuntimeError, match="already open"):
        await store.open()
    await store.close()
    with pytest.raises(UnavailableError):
        await store.get_agent("a1")


# --- several processes, crashes ---------------------------------------------------------------


async def test_two_processes_append_to_the_same_conversations(
    db: Path, spawn: Callable[..., BaseProcess]
) -> None:
    async with SQLiteStore(db) as store:
        conversations = await seed(store, 3)
    go = SPAWN.Event()
    pipes = [SPAWN.Pipe(duplex=False) for _ in range(2)]
    procs = [
        spawn(_procs.append_concurrently, str(db), conversations, f"p{n}", 100, go, send)
        for n, (_, send) in enumerate(pipes)
    ]
    for _, send in pipes:
        send.close()  # the children hold theirs: a child that dies makes recv fail at once
    loop = asyncio.get_running_loop()
    for recv, _ in pipes:  # both have opened the store: start together
        assert await receive(recv) == "ready"
    go.set()
    acked = [row for recv, _ in pipes for row in await receive(recv)]
    for proc in procs:
        await loop.run_in_executor(None, proc.join, 30)
        assert proc.exitcode == 0
    assert len(acked) == 2 * 20 * 100
    assert len({(conv, seq) for conv, seq, _ in acked}) == len(acked)  # unique seqs
    stored = rows(db, "SELECT conversation_id, seq, client_id FROM events")
    assert sorted(stored) == sorted(acked)  # exactly what was acked, nothing else
    for conv in conversations:
        seqs = sorted(seq for c, seq, _ in stored if c == conv)
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free
        assert rows(db, f"SELECT last_seq FROM conversations WHERE id = '{conv}'") == [(len(seqs),)]
    # the two processes really wrote at the same time: their commits interleave
    in_commit_order = [
        cid.split("-")[0] for (cid,) in rows(db, "SELECT client_id FROM events ORDER BY rowid")
    ]
    switches = sum(a != b for a, b in itertools.pairwise(in_commit_order))
    assert switches >= 3


@pytest.mark.parametrize("kill_self", [True, False], ids=["right-after-ack", "mid-stream"])
async def test_sigkill_keeps_every_acked_event(
    db: Path, kill_self: bool, spawn: Callable[..., BaseProcess]
) -> None:
    async with SQLiteStore(db) as store:
        (conv,) = await seed(store)
    recv, send = SPAWN.Pipe(duplex=False)
    proc = spawn(_procs.append_until_killed, str(db), conv, send, kill_self)
    send.close()
    loop = asyncio.get_running_loop()
    acked: list[tuple[int, str]] = []
    want = 1 if kill_self else 200
    while len(acked) < want:
        acked.append(await receive(recv))
    if not kill_self:
        proc.kill()  # SIGKILL, mid-stream: commits may be in flight
    await loop.run_in_executor(None, proc.join, 30)
    assert proc.exitcode == -signal.SIGKILL
    recv.close()

    async with SQLiteStore(db) as reopened:
        stored = {(e.seq, e.client_id) for e in await reopened.events(conv)}
        assert set(acked) <= stored  # acked = committed
        seqs = sorted(seq for seq, _ in stored)
        assert seqs == list(range(1, len(seqs) + 1))
        assert await reopened.last_seq(conv) == len(seqs)
        assert (await say(reopened, conv, "after the crash")).seq == len(seqs) + 1


async def test_busy_processes_take_turns_at_the_write_lock(
    db: Path, spawn: Callable[..., BaseProcess]
) -> None:
    """Two processes appending flat out, each with a busy_timeout of 0.4 s: SQLite's lock
    alone lets the one that just committed win again and again and the other waits past its
    timeout (and its appends fail as unavailable); with the turnstile they take turns."""
    async with SQLiteStore(db) as store:
        conversations = await seed(store, 20)
    pipes = [SPAWN.Pipe(duplex=False) for _ in range(2)]
    for recv, send in pipes:
        spawn(_procs.append_for, str(db), conversations, 3.0, 0.4, send)
        send.close()
        assert await receive(recv) == "ready"
    results = [await receive(recv) for recv, _ in pipes]
    for stored, errors, _slowest in results:
        assert errors == 0  # nobody waited for the write lock past its busy_timeout
        assert stored > 100
