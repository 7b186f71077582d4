"""Transcript persistence: events/second through `SQLiteStore.append` under group commit.

2,000 concurrent producers (asyncio tasks: a visitor and an agent in each of 1,000
conversations) append ~150-byte messages with a client_id, each awaiting its ack before sending
the next, as the hub does; the store runs with its defaults (max_batch=1000, NORMAL). Measured: events/s, the time from `append` call to return (p50/p99) and the mean batch
size. Baseline, same run, same schema, same pragmas: raw `sqlite3` ``executemany`` of the very
rows the store wrote, in transactions of ``max_batch`` rows — the ceiling for this machine.

``postgresql``: the same load on `PostgresStore` at several concurrency levels, against psycopg's
``executemany``, ``COPY`` and one transaction per message on the same private cluster
(`bench._persistence_pg`, whose docstring says exactly what it measures).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._appends import append_load, seed
from bench._persistence_pg import FULL, QUICK, run_postgres
from chatserver.store import SQLiteStore
from chatserver.store._migrate import load_migrations

TARGET_EVENTS_PER_S = 50_000
CONVERSATIONS = 1_000
PRODUCERS = 2_000  # two per conversation: the visitor and the agent


async def _measure_store(path: Path, per_producer: int) -> dict[str, Any]:
    async with SQLiteStore(path) as store:
        conversations = await seed(store, CONVERSATIONS)
        return await append_load(store, conversations, PRODUCERS, per_producer)


def _baseline(source: Path, target: Path, batch: int) -> dict[str, Any]:
    """Raw sqlite3: the same rows, the same schema and pragmas, ``executemany`` per batch."""
    with sqlite3.connect(source) as src:
        rows = src.execute(
            "SELECT conversation_id, seq, ts, kind, actor_role, actor_id, actor_name, client_id,"
            " body FROM events ORDER BY rowid"  # commit order
        ).fetchall()
        page_size = src.execute("PRAGMA page_size").fetchone()[0]
        conversations = src.execute("SELECT * FROM conversations").fetchall()
        visitors = src.execute("SELECT * FROM visitors").fetchall()
    src.close()
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size = {page_size}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -32000")
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("BEGIN")
        for migration in load_migrations():
            for statement in migration.statements:
                conn.execute(statement)
        width = len(visitors[0])  # whatever the migrations left, as for conversations
        conn.executemany(f"INSERT INTO visitors VALUES ({','.join('?' * width)})", visitors)
        columns = len(conversations[0])  # whatever the migrations left
        conn.executemany(
            f"INSERT INTO conversations VALUES ({','.join('?' * columns)})", conversations
        )
        conn.execute("COMMIT")
        insert = (
            "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, actor_id,"
            " actor_name, client_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows[i : i + batch])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return {"events": len(rows), "events_per_s": round(len(rows) / elapsed)}


def run(quick: bool) -> dict[str, Any]:
    per_producer = 50 if quick else 250
    load = os.getloadavg()[0]  # other work on the machine skews the figures: say how much
    with tempfile.TemporaryDirectory(prefix="bench-persistence-") as tmp:
        store_path = Path(tmp) / "store.db"
        result = asyncio.run(_measure_store(store_path, per_producer))
        baseline = _baseline(store_path, Path(tmp) / "baseline.db", 1000)
    if baseline["events"] != result["events"]:  # every ack is a stored row, nothing else
        raise AssertionError(f"stored {baseline['events']} rows for {result['events']} acks")
    ratio = result["events_per_s"] / baseline["events_per_s"]
    postgresql = run_postgres(QUICK if quick else FULL)
    return {
        **result,
        "conversations": CONVERSATIONS,
        "producers": PRODUCERS,
        "loadavg_1m_before": round(load, 2),
        "baseline": baseline,
        "ratio": round(ratio, 3),
        "targets": {
            f"events_per_s>={TARGET_EVENTS_PER_S}": result["events_per_s"] >= TARGET_EVENTS_PER_S
        },
        "postgresql": postgresql,
    }
