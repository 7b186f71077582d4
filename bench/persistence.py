"""Transcript persistence: events/second through `SQLiteStore.append` under group commit.

2,000 concurrent producers (asyncio tasks: a visitor and an agent in each of 1,000
conversations) append ~150-byte messages with a client_id, each awaiting its ack before sending
the next, as the hub does; the store runs with its defaults (max_batch=1000, NORMAL). Measured: events/s, the time from `append` call to return (p50/p99) and the mean batch
size. Baseline, same run, same schema, same pragmas: raw `sqlite3` ``executemany`` of the very
rows the store wrote, in transactions of ``max_batch`` rows — the ceiling for this machine.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from chatserver.store import ConversationRecord, SQLiteStore, VisitorRecord, iso_now
from chatserver.store._migrate import load_migrations

TARGET_EVENTS_PER_S = 50_000
CONVERSATIONS = 1_000
PRODUCERS = 2_000  # two per conversation: the visitor and the agent
TEXT = (
    "Hello! I was charged twice for my subscription this month and would like a refund for"
    " the second payment, please. Order #"
)


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]


async def _seed(store: SQLiteStore) -> list[str]:
    now = iso_now()
    await store.add_visitor(VisitorRecord(id="v-bench", token_hash="t", site="s", created_at=now))
    ids = [f"conv-{i:05d}" for i in range(CONVERSATIONS)]
    for cid in ids:
        await store.add_conversation(
            ConversationRecord(
                id=cid,
                visitor_id="v-bench",
                site="s",
                topic="billing",
                language="en",
                status="active",
                created_at=now,
            )
        )
    return ids


async def _measure_store(path: Path, per_producer: int) -> dict[str, Any]:
    async with SQLiteStore(path) as store:
        conversations = await _seed(store)
        ts = iso_now()
        latencies: list[float] = []

        async def producer(n: int) -> None:
            conv = conversations[n % CONVERSATIONS]
            prefix = str(uuid.uuid4())[:28]
            clock = time.perf_counter
            record = latencies.append
            append = store.append
            for i in range(per_producer):
                body = {"text": f"{TEXT}{n:05d}-{i:05d}"}
                started = clock()
                await append(
                    conv, "message", body, ts=ts, actor_role="visitor", client_id=f"{prefix}{i:08d}"
                )
                record(clock() - started)

        before = store.stats
        started = time.perf_counter()
        await asyncio.gather(*(producer(n) for n in range(PRODUCERS)))
        elapsed = time.perf_counter() - started
        after = store.stats
    events = after.events - before.events
    batches = after.batches - before.batches
    latencies.sort()
    return {
        "events": events,
        "events_per_s": round(events / elapsed),
        "append_p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
        "append_p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "batch_mean": round(events / batches, 1) if batches else 0.0,
    }


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
        conn.executemany(f"INSERT INTO visitors VALUES ({','.join('?' * 7)})", visitors)
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
    }
