"""Export throughput on both stores: messages/second of `chatserver export`, each against a
same-run baseline of the same driver, and the export's memory at two sizes.

A store made by the deterministic generator (`chatserver.analytics.sample`: ~200,000
messages, or ~70,000 with ``--quick``) is exported as CSV, a row per message, redacted (the
default), with digests and seals — the export an analyst runs — to a file.

- SQLite: baseline Python's ``sqlite3`` selecting the same message rows (conversation, seq,
  time, role, author, the raw JSON body) and writing them with ``csv.writer``, nothing decoded,
  redacted or hashed.
- PostgreSQL (a private cluster, `tests.support.postgres_server`, the same rows copied in with
  `copy_from_sqlite`): baseline psycopg's ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` of the
  same rows written to a file — the server formats the CSV, Python only moves bytes.

Each is run three times, alternately, and the best run of each counts, so that a busy machine
skews both alike. For information: the JSONL export (every event, every field) and the same CSV
export without redaction. Memory: the export run in a fresh process over the first tenth of
the days and over everything; the growth of its peak resident set during the export
(read after every chunk, over what it was when the export began) must stay flat: bounded
whatever the size (`MAX_GROWTH_MIB`).
"""

from __future__ import annotations

import asyncio
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

from chatserver.analytics.export import Export, ExportOptions
from chatserver.analytics.sample import generate
from chatserver.store import Filters, open_store
from chatserver.store.postgres.copy_in import copy_from_sqlite
from tests.support.postgres_server import PostgresServer

TARGET_MESSAGES_PER_S = 100_000
TARGET_RATIO = 0.5
RUNS = 3
DAYS = 20
#: The small size of the memory check: conversations that arrived in the first two days.
SMALL_UNTIL = "2026-03-03T00:00:00.000Z"
#: What the export's resident set may grow by at either size: a few chunks and one
#: conversation, plus the SQLite snapshot's page cache, which fills up to its 16 MB
#: (``cache_size``) on a large store and no further.
MAX_GROWTH_MIB = 24

_ROWS = (
    "SELECT conversation_id, seq, ts, actor_role, actor_name, body FROM events"
    " WHERE kind = 'message' ORDER BY conversation_id, seq"
)


def _export(
    source: str, out: Path, fmt: str = "csv", redact: bool = True, until: str | None = None
) -> tuple[int, float]:
    with open_store(source).snapshot() as snapshot:
        options = ExportOptions(format=fmt, shape="messages", redact=redact,  # type: ignore[arg-type]
                                filters=Filters(until=until))  # fmt: skip
        exporter = Export(snapshot, options)
        started = time.perf_counter()
        with out.open("wb") as f:
            for chunk in exporter.chunks():
                f.write(chunk)
        elapsed = time.perf_counter() - started
    return exporter.stats.messages, elapsed


def _sqlite_dump(path: str, out: Path) -> tuple[int, float]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        rows = 0
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            cursor = conn.execute(_ROWS)
            while batch := cursor.fetchmany(2000):
                writer.writerows(batch)
                rows += len(batch)
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return rows, elapsed


def _postgres_copy(url: str, out: Path) -> tuple[int, float]:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        with out.open("wb") as f, conn.cursor() as cur:
            with cur.copy(f"COPY ({_ROWS}) TO STDOUT (FORMAT csv)") as copy:
                for data in copy:
                    f.write(data)
            rows = cur.rowcount
        elapsed = time.perf_counter() - started
    return rows, elapsed


def _peak_growth(source: str, out: Path, until: str | None) -> dict[str, Any]:
    """The export in a fresh process: messages and the growth of its peak RSS (MiB)."""
    args = [sys.executable, "-m", "bench.export", "peak", source, str(out), until or ""]
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def _measure(name: str, source: str, baseline: Any, tmp: Path, expected: int) -> dict[str, Any]:
    best_export = best_base = best_plain = float("inf")
    messages = dumped = 0
    for _ in range(RUNS):
        messages, elapsed = _export(source, tmp / f"{name}-export.csv")
        best_export = min(best_export, elapsed)
        dumped, elapsed = baseline(source, tmp / f"{name}-dump.csv")
        best_base = min(best_base, elapsed)
        _, elapsed = _export(source, tmp / f"{name}-plain.csv", redact=False)
        best_plain = min(best_plain, elapsed)
    jsonl_messages, jsonl_elapsed = _export(source, tmp / f"{name}-export.jsonl", "jsonl")
    if messages != expected or dumped != expected:
        raise AssertionError(f"{name}: exported {messages}, dumped {dumped} of {expected}")
    small = _peak_growth(source, tmp / f"{name}-small.csv", SMALL_UNTIL)
    whole = _peak_growth(source, tmp / f"{name}-whole.csv", None)
    rate = messages / best_export
    base = dumped / best_base
    growth = whole["peak_growth_mib"] - small["peak_growth_mib"]
    return {
        "messages_per_s": round(rate),
        "jsonl_messages_per_s": round(jsonl_messages / jsonl_elapsed),
        # The same CSV export with redaction off (an admin's --no-redact): what redaction costs.
        "unredacted_messages_per_s": round(messages / best_plain),
        "unredacted_ratio": round(messages / best_plain / base, 3),
        "baseline_messages_per_s": round(base),
        "ratio": round(rate / base, 3),
        "memory": {"small": small, "whole": whole, "growth_mib": round(growth, 1)},
        "targets": {
            f"messages_per_s>={TARGET_MESSAGES_PER_S}": rate >= TARGET_MESSAGES_PER_S,
            f"ratio>={TARGET_RATIO}": rate / base >= TARGET_RATIO,
            f"memory_growth<={MAX_GROWTH_MIB}MiB": max(
                small["peak_growth_mib"], whole["peak_growth_mib"]
            )
            <= MAX_GROWTH_MIB,
        },
    }


async def _migrate(url: str) -> None:
    async with open_store(url):
        pass


def run(quick: bool) -> dict[str, Any]:
    conversations = 6_000 if quick else 17_500
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        tmp = Path(folder)
        store = tmp / "chat.db"
        data = generate(store, conversations=conversations, days=DAYS, seed=5, keep=False)
        sqlite = _measure("sqlite", str(store), _sqlite_dump, tmp, data.messages)
        with PostgresServer() as server:
            url = server.create_database("bench_export")
            asyncio.run(_migrate(url))
            copy_from_sqlite(store, url)
            postgresql = _measure("postgresql", url, _postgres_copy, tmp, data.messages)
    sqlite["baseline"] = "sqlite3 SELECT of the same message rows written by csv.writer"
    postgresql["baseline"] = "psycopg COPY (SELECT the same rows) TO STDOUT (FORMAT csv)"
    targets = {f"sqlite:{k}": v for k, v in sqlite.pop("targets").items()}
    targets.update({f"postgresql:{k}": v for k, v in postgresql.pop("targets").items()})
    return {
        "messages": data.messages,
        "conversations": data.conversation_count,
        "format": "csv, a row per message, redacted, digests and seals",
        "loadavg_1m_before": round(load, 2),
        # The SQLite export as before (its figures at the top level), then each store's own.
        "messages_per_s": sqlite["messages_per_s"],
        "baseline": {
            "what": sqlite["baseline"],
            "messages_per_s": sqlite["baseline_messages_per_s"],
        },
        "ratio": sqlite["ratio"],
        "sqlite": sqlite,
        "postgresql": postgresql,
        "targets": targets,
    }


def _rss() -> int:
    """This process's resident set now, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_main(source: str, out: str, until: str) -> None:
    """The export, its resident set read after every chunk: the peak over the start."""
    with open_store(source).snapshot() as snapshot:
        options = ExportOptions(
            format="csv", shape="messages", filters=Filters(until=until or None)
        )
        exporter = Export(snapshot, options)
        start = peak = _rss()
        with Path(out).open("wb") as f:
            for chunk in exporter.chunks():
                f.write(chunk)
                peak = max(peak, _rss())
    growth, mib = (peak - start) / 2**20, 2**20
    print(orjson.dumps({"messages": exporter.stats.messages, "peak_growth_mib": round(growth, 1),
                        "rss_at_start_mib": round(start / mib, 1)}).decode())  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "peak":
        _peak_main(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m bench --only export [--quick]")
