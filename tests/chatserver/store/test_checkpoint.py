"""WAL checkpoints in the background (``chatserver/store/sqlite/_checkpoint.py``): they run while the
writer commits and only then, copy the log into the database so that it starts over, and a
failed one is logged and tried again."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from chatserver.store import SQLiteStore
from chatserver.store.sqlite import connection
from chatserver.store.sqlite._checkpoint import Checkpointer

from .conftest import seed

TS = "2026-11-26T04:05:06.123Z"


def wal_frames(db: Path) -> int:
    """Frames in the write-ahead log now (a passive checkpoint from outside reports them)."""
    conn = sqlite3.connect(db)
    try:
        _busy, log_frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(log_frames)
    finally:
        conn.close()


_sent = itertools.count()


async def chatter(store: SQLiteStore, conversations: list[str], count: int) -> None:
    """``count`` messages spread over ``conversations``, each with a client_id of its own."""
    await asyncio.gather(
        *(
            store.append(
                conversations[n % len(conversations)],
                "message",
                {"text": f"message {n} " + "x" * 120},
                ts=TS,
                actor_role="visitor",
                client_id=f"c{next(_sent)}",
            )
            for n in range(count)
        )
    )


async def wait_for(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


class Looks(list["CountedCheckpointer"]):
    """The checkpointers a store made, each counting how often its loop looked for commits."""

    async def after(self, n: int, timeout: float = 10.0) -> None:
        """A barrier: the (one) checkpointer's loop looked ``n`` more times from now, and had
        finished whatever each look before the last one started."""
        (checkpointer,) = self
        target = checkpointer.looks + n
        await wait_for(lambda: checkpointer.looks >= target, timeout)


class CountedCheckpointer(Checkpointer):
    def __init__(
        self, conn: aiosqlite.Connection, interval: float, progress: Callable[[], int]
    ) -> None:
        self.looks = 0

        def counted() -> int:
            self.looks += 1
            return progress()

        super().__init__(conn, interval, counted)


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> Looks:
    made = Looks()

    def make(
        conn: aiosqlite.Connection, interval: float, progress: Callable[[], int]
    ) -> Checkpointer:
        made.append(checkpointer := CountedCheckpointer(conn, interval, progress))
        return checkpointer

    monkeypatch.setattr(connection, "Checkpointer", make)
    return made


async def test_commits_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    async with SQLiteStore(db, checkpoint_interval=0.05) as store:
        conversations = await seed(store, 50)
        for _ in range(5):
            await chatter(store, conversations, 400)
        # The writer checkpoints by itself only past 10,000 frames of log; these 2,000 events
        # write far fewer, so every page copied into the database was the checkpointer's.
        await wait_for(lambda: store.checkpoints.pages > 0)
        assert store.checkpoints.busy <= store.checkpoints.runs
        # Once everything is copied, the next commit starts the log over from its beginning.
        runs = store.checkpoints.runs
        await chatter(store, conversations[:1], 1)
        await wait_for(lambda: store.checkpoints.runs > runs)
        assert wal_frames(db) > 0
        await chatter(store, conversations[1:2], 1)
        assert wal_frames(db) < 50
        assert len(await store.events(conversations[0])) == 41
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (2002,)
    finally:
        conn.close()


async def test_an_idle_store_does_not_checkpoint(tmp_path: Path, looks: Looks) -> None:
    async with SQLiteStore(tmp_path / "hub.db", checkpoint_interval=0.02) as store:
        conversations = await seed(store, 1)
        await wait_for(lambda: store.checkpoints.runs == 1)  # the seeding wrote
        # Three looks without a commit: a checkpoint begun at either of the first two would
        # have finished by the third (one task runs them in turn).
        await looks.after(3)
        assert store.checkpoints.runs == 1
        await chatter(store, conversations, 1)
        await wait_for(lambda: store.checkpoints.runs == 2)


async def test_without_an_interval_the_writer_checkpoints_as_sqlite_does(
    tmp_path: Path, looks: Looks
) -> None:
    db = tmp_path / "hub.db"
    async with SQLiteStore(db, checkpoint_interval=None) as store:
        conversations = await seed(store, 20)
        await chatter(store, conversations, 500)
        # No checkpointer at all, rather than one that has not run yet: background runs are
        # only ever a checkpointer's.
        assert looks == []
        assert store.checkpoints.runs == 0
        assert wal_frames(db) > 50  # nothing copied the log back: it only grew


@pytest.mark.parametrize("interval", [0, -1.0, float("nan")])
def test_the_interval_must_be_positive(tmp_path: Path, interval: float) -> None:
    with pytest.raises(ValueError, match="checkpoint_interval"):
        SQLiteStore(tmp_path / "hub.db", checkpoint_interval=interval)


class FlakyConnection:
    """Stands in for the checkpoint connection: fails once, then reports 7 pages copied."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.closed = False

    async def execute_fetchall(self, sql: str) -> list[tuple[int, int, int]]:
        self.calls.append(sql)
        if len(self.calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return [(0, 7, 7)]

    async def close(self) -> None:
        self.closed = True


async def test_a_failed_checkpoint_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = FlakyConnection()
    commits = 0
    checkpointer = Checkpointer(conn, 0.01, lambda: commits)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="chatserver.store.sqlite._checkpoint"):
        commits += 1
        await wait_for(lambda: len(conn.calls) == 1)
        assert "wal checkpoint failed" in caplog.text
        assert checkpointer.stats.runs == 0
        commits += 1
        await wait_for(lambda: checkpointer.stats.runs == 1)
    assert checkpointer.stats.pages == 7
    assert conn.calls == ["PRAGMA wal_checkpoint(PASSIVE)"] * 2
    await checkpointer.close()
    assert conn.closed
