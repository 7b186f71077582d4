"""The stores `bench.analytics_scale` measures, and its baseline: one pass over the raw rows.

A store of N conversations is made by the analytics generator (`chatserver.analytics.sample`,
90 days up to the current hour, seed 23) once and kept in a cache folder (``$BENCH_CACHE`` or
``/tmp/chatserver-bench-cache``), its file named by the size, the seed, the first day and a
digest of the code that decides its content (the generator, its corpus and every migration):
a million conversations take the generator ~6 minutes, a copy of its file seconds. Each
measurement works on a copy of it (SQLite), or on a PostgreSQL database it was copied into
(`copy_from_sqlite`). Nothing here reads the store's tables but the baseline's raw passes,
which read ``events`` and ``conversations`` — the rows every figure comes from.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

import chatserver
from chatserver.analytics.sample import generate
from chatserver.core.accounts import hash_password
from chatserver.store import open_store
from chatserver.store.base import AgentRecord, iso_now
from chatserver.store.postgres.copy_in import copy_from_sqlite

DAYS = 90
SEED = 23
ROOT = Path(__file__).resolve().parent.parent
#: The analyst (an admin: the dashboard and the analytics API both take one) the bench signs in as.
ANALYST = "bench-analyst"

#: The raw passes: every event's body, over all conversations or those that arrived since.
RAW_ALL = "SELECT count(*), sum(length(body)) FROM events"
RAW_SINCE = (
    "SELECT count(*), sum(length(e.body)) FROM conversations c"
    " JOIN events e ON e.conversation_id = c.id WHERE c.created_at >= ?"
)
#: What the whole-range summary must count (a guard that precomputed figures are complete).
RAW_TOTALS = (
    "SELECT count(*), count(rating), sum(CASE WHEN status = 'closed' THEN 1 ELSE 0 END)"
    " FROM conversations"
)


def first_day(days: int = DAYS) -> str:
    """Where the generator starts: ``days`` days before the start of the current hour (UTC),
    as ``2026-09-09T14``, so that the store ends where a live one would — up to now, nothing
    from the future — and the dashboard's relative periods (last 24 h, 7 and 14 days) hold a
    full load. (It ended at midnight tonight before: half a day of conversations not yet
    arrived, which no rollup could hold.) A new hour is a new cache entry."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (hour - timedelta(days=days)).strftime("%Y-%m-%dT%H")


def code_digest() -> str:
    """A digest of what decides a generated store's bytes: the generator and migrations."""
    package = Path(chatserver.__file__).resolve().parent
    files = [package / "analytics" / "sample.py", package / "analytics" / "sample_corpus.py"]
    files += sorted((package / "store" / "migrations").rglob("*.sql"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def cache_dir() -> Path:
    folder = Path(os.environ.get("BENCH_CACHE") or "/tmp/chatserver-bench-cache") / "analytics"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True, slots=True)
class Generated:
    path: Path
    conversations: int
    generate_s: float | None  # None: taken from the cache


def generated(conversations: int, days: int = DAYS) -> Generated:
    """The cached store of ``conversations`` conversations, generated first if missing."""
    start = first_day(days)
    name = f"sample-{conversations}-s{SEED}-d{days}-{start}-{code_digest()}.db"
    path = cache_dir() / name
    if path.exists():
        return Generated(path, conversations, None)
    for stale in cache_dir().glob(f"sample-{conversations}-s{SEED}-d{days}-*"):
        stale.unlink()  # another day or another tree: a store of that size is big
    partial = path.with_suffix(".partial")
    for leftover in cache_dir().glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    generate(partial, conversations=conversations, days=days, seed=SEED, start=start, keep=False)
    elapsed = time.perf_counter() - started
    partial.rename(path)
    return Generated(path, conversations, round(elapsed, 1))


def copy_store(source: Path, data_dir: Path) -> float:
    """Copy the cached store to ``data_dir/chat.db`` (the hub's default); seconds taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    shutil.copyfile(source, data_dir / "chat.db")
    return round(time.perf_counter() - started, 1)


def into_postgres(source: Path, url: str) -> float:
    """Migrate the empty database at ``url``, copy the store in, ANALYZE; seconds taken."""
    started = time.perf_counter()
    asyncio.run(_migrate(url))
    copy_from_sqlite(source, url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return round(time.perf_counter() - started, 1)


async def _migrate(url: str) -> None:
    async with open_store(url):
        pass


def cli_env(url: str | None) -> dict[str, str]:
    """The environment of a ``chatserver`` command on the store (the bench's own, with no
    CHATSERVER_ settings but the database URL for PostgreSQL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSERVER_")}
    env["CHATSERVER_LOG_LEVEL"] = "WARNING"
    if url is not None:
        env["CHATSERVER_DATABASE_URL"] = url
    return env


def chatserver_command(
    args: list[str], data_dir: Path, url: str | None, timeout: float = 1800
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", *args, "--data", str(data_dir)],
        capture_output=True, text=True, env=cli_env(url), cwd=ROOT, timeout=timeout,
        check=False,
    )  # fmt: skip


def rebuild(data_dir: Path, url: str | None) -> float | None:
    """``chatserver analytics rebuild`` on the store, if this tree has it (issue #23's rollups
    are rebuilt so after a bulk load); seconds taken, or None where there is no such command."""
    started = time.perf_counter()
    done = chatserver_command(["analytics", "rebuild"], data_dir, url)
    if done.returncode != 0:
        if "invalid choice" in done.stderr:
            return None
        raise RuntimeError(f"chatserver analytics rebuild failed:\n{done.stderr[-3000:]}")
    return round(time.perf_counter() - started, 1)


def add_analyst(url: str) -> str:
    """Add the bench's admin to the store at ``url``; its password."""
    password = secrets.token_urlsafe(12)

    async def add() -> None:
        async with open_store(url) as store:
            await store.add_agent(
                AgentRecord(
                    id=uuid.uuid4().hex,
                    username=ANALYST,
                    display_name="Bench analyst",
                    password_hash=hash_password(password),
                    skills={},
                    capacity=1,
                    roles=("admin",),
                    disabled=False,
                    created_at=iso_now(),
                )
            )

    asyncio.run(add())
    return password


def _since(days: int) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class RawRows:
    """The baseline: one pass over the raw rows the figures come from, timed."""

    def __init__(self, sqlite_path: Path | None, url: str | None) -> None:
        self.sqlite_path, self.url = sqlite_path, url

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], float]:
        """The first row of ``sql`` and the seconds the query took (the connection aside)."""
        if self.url is not None:
            with psycopg.connect(self.url, autocommit=True) as pg:
                started = time.perf_counter()
                row = pg.execute(sql.replace("?", "%s"), params).fetchone()
                elapsed = time.perf_counter() - started
        else:
            db = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True)
            try:
                started = time.perf_counter()
                row = db.execute(sql, params).fetchone()
                elapsed = time.perf_counter() - started
            finally:
                db.close()
        assert row is not None
        return tuple(row), elapsed

    def timed(self, days: int | None) -> tuple[float, int]:
        """Milliseconds of one pass over the events of every conversation (``days`` None) or of
        those that arrived in the last ``days`` days, and the events read."""
        row, elapsed = (
            self._query(RAW_ALL) if days is None else self._query(RAW_SINCE, (_since(days),))
        )
        return elapsed * 1000, int(row[0])

    def totals(self) -> dict[str, int]:
        (conversations, rated, closed), _ = self._query(RAW_TOTALS)
        return {"conversations": conversations, "rated": rated, "closed": closed}

    def oldest(self) -> str:
        """The oldest conversation's created_at (where the newest-first list ends)."""
        return str(self._query("SELECT min(created_at) FROM conversations")[0][0])

    def an_agent(self) -> str:
        """A generated agent's username (the first in order; the analyst aside)."""
        sql = "SELECT min(username) FROM agents WHERE username <> ?"
        return str(self._query(sql, (ANALYST,))[0][0])
