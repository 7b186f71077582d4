"""Data lifecycle: purge and forget-visitor, through the store and the CLI, both audited."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg

from chatserver.analytics.sample import SampleData
from chatserver.store import SQLiteStore, iso_now, open_store

from .conftest import Operator


def database_bytes(path: Path) -> bytes:
    """The database file and its WAL, as they are on disk."""
    raw = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return raw + wal.read_bytes() if wal.exists() else raw


def count(source: str | Path, sql: str) -> int:
    """One number from the store at ``source`` (a SQLite file or a PostgreSQL URL)."""
    if str(source).startswith(("postgresql://", "postgres://")):
        with psycopg.connect(str(source)) as pg:
            row = pg.execute(sql).fetchone()
            return int(row[0]) if row is not None else 0
    conn = sqlite3.connect(str(source).removeprefix("sqlite:///"))
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def test_purge_deletes_what_closed_before_the_cutoff(
    sample: SampleData, fresh_url: str
) -> None:
    fresh_store = fresh_url
    cutoff = "2026-03-08T00:00:00.000Z"
    cutoff_ms = 1772928000000
    gone = [c for c in sample.conversations if c.closed_ms is not None and c.closed_ms < cutoff_ms]
    kept = [c for c in sample.conversations if c not in gone]
    async with open_store(fresh_url) as store:
        result = await store.purge_closed_before(cutoff, ts=iso_now(), actor="test", batch=37)
        entries = await store.audit_log(action="purge")
        for c in gone[:5]:
            assert await store.get_conversation(c.id) is None
            assert await store.get_visitor(c.visitor_id) is None  # one conversation each
        for c in kept[:5]:
            assert await store.get_conversation(c.id) is not None
    assert result.conversations == len(gone)
    assert result.events == sum(len(c.events) for c in gone)
    assert result.visitors == len(gone)
    assert count(fresh_store, "SELECT count(*) FROM conversations") == len(kept)
    assert count(fresh_store, "SELECT count(*) FROM events") == sum(len(c.events) for c in kept)
    assert count(fresh_store, "SELECT count(*) FROM event_deletions") >= 1
    [entry] = entries
    assert entry.id == result.audit_id and entry.actor == "test"
    assert entry.details == {
        "cutoff": cutoff, "state": "done", "conversations": len(gone),
        "events": result.events, "visitors": len(gone),
    }  # fmt: skip


async def test_forget_visitor_leaves_no_trace(sample: SampleData, fresh_store: Path) -> None:
    victim = next(c for c in sample.conversations if len(c.pii) >= 2 and c.rating is not None)
    async with SQLiteStore(fresh_store) as store:
        result = await store.forget_visitor(victim.visitor_id, ts=iso_now(), actor="test")
        assert await store.get_visitor(victim.visitor_id) is None
        assert await store.get_conversation(victim.id) is None
        again = await store.forget_visitor(victim.visitor_id, ts=iso_now(), actor="test")
        entries = await store.audit_log(action="forget_visitor")
    assert (result.found, result.conversations, result.events) == (
        True, 1, len(victim.events),
    )  # fmt: skip
    assert (again.found, again.conversations) == (False, 0)
    assert [e.details["visitor_id"] for e in entries] == [victim.visitor_id] * 2
    # Not in any table, and not in the file's free pages or the WAL either.
    raw = database_bytes(fresh_store)
    for secret in [victim.email, *victim.pii]:
        assert secret.encode() not in raw, secret
    assert count(fresh_store, "SELECT count(*) FROM conversations") == 599


def test_the_cli_purges_forgets_and_shows_the_audit_log(
    sample: SampleData, operator: Operator
) -> None:
    fresh_store = operator.url
    victim = sample.conversations[10]
    r = operator.run("forget-visitor", victim.visitor_id)
    assert r.returncode == 0, r.stderr
    assert "forgot visitor" in r.stdout and "1 conversations" in r.stdout
    r = operator.run("purge", "--older-than", "30", "--dry-run")
    assert r.returncode == 0 and "would delete" in r.stdout
    assert count(fresh_store, "SELECT count(*) FROM conversations") == 599
    r = operator.run("purge", "--older-than", "30")  # everything the generator closed
    assert r.returncode == 0, r.stderr
    left = count(fresh_store, "SELECT count(*) FROM conversations")
    assert left == sum(c.status != "closed" for c in sample.conversations if c is not victim)
    r = operator.run("audit", "--json")
    entries = json.loads(r.stdout)
    assert [e["action"] for e in entries] == ["purge", "forget_visitor"]
    assert all(e["actor"] == "cli" for e in entries)
    assert entries[1]["details"]["visitor_id"] == victim.visitor_id
    assert operator.run("purge", "--older-than", "-1").returncode == 2
