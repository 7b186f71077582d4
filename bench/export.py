"""Export throughput: messages/second of `chatserver export`, against a plain sqlite3 dump.

A store made by the deterministic generator (`chatserver.analytics.sample`: ~200,000
messages, or ~70,000 with ``--quick``) is exported as CSV, a row per message, redacted (the
default), with digests and seals — the export an analyst runs — to a file. Baseline, same run,
same file system: Python's ``sqlite3`` selecting the same message rows (conversation,
seq, time, role, author, the raw JSON body) and writing them with ``csv.writer``, nothing
decoded, redacted or hashed. Each is run three times, alternately, and the best run of each
counts, so that a busy machine skews both alike. For information: the JSONL export (every
event, every field) and the same CSV export without redaction.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from chatserver.analytics.export import Export, ExportOptions
from chatserver.analytics.sample import generate
from chatserver.store import open_store

TARGET_MESSAGES_PER_S = 100_000
TARGET_RATIO = 0.5
RUNS = 3


def _export(path: Path, out: Path, fmt: str = "csv", redact: bool = True) -> tuple[int, float]:
    with open_store(path).snapshot() as snapshot:
        options = ExportOptions(format=fmt, shape="messages", redact=redact)  # type: ignore[arg-type]
        exporter = Export(snapshot, options)
        started = time.perf_counter()
        with out.open("wb") as f:
            for chunk in exporter.chunks():
                f.write(chunk)
        elapsed = time.perf_counter() - started
    return exporter.stats.messages, elapsed


def _dump(path: Path, out: Path) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        rows = 0
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            cursor = conn.execute(
                "SELECT conversation_id, seq, ts, actor_role, actor_name, body FROM events"
                " WHERE kind = 'message' ORDER BY conversation_id, seq"
            )
            while batch := cursor.fetchmany(2000):
                writer.writerows(batch)
                rows += len(batch)
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    return rows, elapsed


def run(quick: bool) -> dict[str, Any]:
    conversations = 6_000 if quick else 17_500
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        store = Path(tmp) / "chat.db"
        data = generate(store, conversations=conversations, days=20, seed=5, keep=False)
        best_export = best_dump = best_plain = float("inf")
        messages = dumped = 0
        for _ in range(RUNS):
            messages, elapsed = _export(store, Path(tmp) / "export.csv")
            best_export = min(best_export, elapsed)
            dumped, elapsed = _dump(store, Path(tmp) / "dump.csv")
            best_dump = min(best_dump, elapsed)
            _, elapsed = _export(store, Path(tmp) / "plain.csv", redact=False)
            best_plain = min(best_plain, elapsed)
        jsonl_messages, jsonl_elapsed = _export(store, Path(tmp) / "export.jsonl", "jsonl")
    if messages != data.messages or dumped != data.messages:
        raise AssertionError(f"exported {messages}, dumped {dumped} of {data.messages} messages")
    rate = messages / best_export
    baseline = dumped / best_dump
    ratio = rate / baseline
    return {
        "messages": messages,
        "conversations": data.conversation_count,
        "format": "csv, a row per message, redacted, digests and seals",
        "messages_per_s": round(rate),
        "jsonl_messages_per_s": round(jsonl_messages / jsonl_elapsed),
        # The same CSV export with redaction off (an admin's --no-redact): what redaction costs.
        "unredacted_messages_per_s": round(messages / best_plain),
        "unredacted_ratio": round(messages / best_plain / baseline, 3),
        "loadavg_1m_before": round(load, 2),
        "baseline": {
            "what": "sqlite3 SELECT of the same message rows written by csv.writer",
            "messages_per_s": round(baseline),
        },
        "ratio": round(ratio, 3),
        "targets": {
            f"messages_per_s>={TARGET_MESSAGES_PER_S}": rate >= TARGET_MESSAGES_PER_S,
            f"ratio>={TARGET_RATIO}": ratio >= TARGET_RATIO,
        },
    }
