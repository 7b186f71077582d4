"""Shared helpers: run an export into bytes, read exports back with standard readers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from chatserver.analytics.export import Export, ExportOptions
from chatserver.analytics.sample import SampleConversation
from chatserver.store import Filters, ReadSnapshot, open_store


def snapshot_of(source: str | Path) -> ReadSnapshot:
    """A snapshot of the store at ``source`` (a SQLite file or any store URL)."""
    return open_store(source).snapshot()


def export_bytes(
    source: str | Path,
    fmt: str = "jsonl",
    shape: str = "messages",
    filters: Filters | None = None,
    redact: bool = True,
) -> tuple[bytes, Export]:
    with snapshot_of(source) as snap:
        exporter = Export(
            snap,
            ExportOptions(format=fmt, shape=shape, filters=filters or Filters(), redact=redact),  # type: ignore[arg-type]
        )
        data = b"".join(exporter.chunks())
    return data, exporter


def jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines() if line]


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def pii_of(conversations: list[SampleConversation]) -> set[str]:
    """Every piece of personal data the generator put in: names, e-mails and the values
    written into texts (phone numbers, cards, IPs, odd e-mail spellings)."""
    found: set[str] = set()
    for c in conversations:
        found.add(c.email)
        found.add(c.name)
    return found
