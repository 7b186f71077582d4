"""`chatserver verify FILE`: check the digests (and, with the hub's key, the seals) of an export.

What can be checked depends on what the file holds (see `digest`):

- JSONL: each line's events are re-hashed and must give its ``digest``; their ``seq`` must run
  1, 2, 3 … without a gap.
- CSV or Parquet of the messages shape: each conversation's rows are re-hashed and must give
  the ``digest`` on every one of them.
- CSV or Parquet of the conversations shape: the digest covers events the file does not hold;
  only the seal (that the digest is the one the hub exported) can be checked.

Seals are checked when the key is given (the CLI reads it from the store under ``--data``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson

from . import digest as digests
from .csv_text import uncell
from .errors import BadRequest
from .rows import CONVERSATION_COLUMNS, EARLIER_CONVERSATION_COLUMNS, MESSAGE_COLUMNS

__all__ = ["VerifyResult", "verify_file"]


@dataclass(slots=True)
class VerifyResult:
    kind: str  # "jsonl", "csv/messages", "parquet/conversations" …
    conversations: int = 0
    digests_checked: int = 0
    seals_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < 1000:
            self.problems.append(text)


def _check_seal(result: VerifyResult, key: bytes | None, cid: str, digest: str, seal: str) -> None:
    if key is None:
        return
    result.seals_checked += 1
    if not digests.seal_ok(key, digest, seal):
        result.problem(f"{cid}: the seal does not match its digest (not exported by this hub)")


def _jsonl(path: Path, key: bytes | None) -> VerifyResult:
    result = VerifyResult("jsonl")
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
                cid = doc["conversation"]["conversation_id"]
                events = doc["events"]
                digest, seal = doc["digest"], doc["seal"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                result.problem(f"line {number}: not a conversation of a chatserver export")
                continue
            result.conversations += 1
            seqs = [e.get("seq") for e in events]
            if seqs != list(range(1, len(seqs) + 1)):
                result.problem(f"{cid}: events are not seq 1..{len(seqs)} in order")
            result.digests_checked += 1
            if digests.digest(cid, events) != digest:
                result.problem(f"{cid}: the events do not match the digest (altered)")
            _check_seal(result, key, cid, digest, seal)
    return result


def _message_groups(
    result: VerifyResult, rows: Iterator[dict[str, Any]], key: bytes | None
) -> VerifyResult:
    for cid, group in groupby(rows, key=lambda r: r["conversation_id"]):
        items = list(group)
        result.conversations += 1
        # The digest and seal are on the first row (CSV) or on every row (Parquet).
        digest, seal = items[0]["digest"], items[0]["seal"]
        if any(r["digest"] not in ("", digest) or r["seal"] not in ("", seal) for r in items):
            result.problem(f"{cid}: rows disagree on the digest")
        canonical = [
            [
                cid,
                int(r["seq"]),
                r["ts"],
                r["topic"],
                r["language"],
                r["role"],
                r["author"],
                r["text"],
            ]
            for r in items
        ]
        result.digests_checked += 1
        if digests.messages_digest(cid, canonical) != digest:
            result.problem(f"{cid}: the messages do not match the digest (altered)")
        _check_seal(result, key, cid, digest, seal)
    return result


def _seals_only(
    result: VerifyResult, rows: Iterator[dict[str, Any]], key: bytes | None
) -> VerifyResult:
    for row in rows:
        result.conversations += 1
        _check_seal(result, key, row["conversation_id"], row["digest"], row["seal"])
    return result


def _csv(path: Path, key: bytes | None) -> VerifyResult:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header == MESSAGE_COLUMNS:
            rows = (
                {**dict(zip(header, r, strict=True)), "author": uncell(r[6]), "text": uncell(r[7])}
                for r in reader
            )
            return _message_groups(VerifyResult("csv/messages"), rows, key)
        if header in (CONVERSATION_COLUMNS, EARLIER_CONVERSATION_COLUMNS):
            rows = (dict(zip(header, r, strict=True)) for r in reader)
            return _seals_only(VerifyResult("csv/conversations"), rows, key)
    raise BadRequest(f"{path}: not a chatserver export (unknown CSV header)")


def _parquet(path: Path, key: bytes | None) -> VerifyResult:
    from . import _parquet

    _parquet.require()
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    names = tuple(table.schema_arrow.names)

    def rows() -> Iterator[dict[str, Any]]:
        for batch in table.iter_batches(batch_size=10_000):
            yield from batch.to_pylist()

    if names == MESSAGE_COLUMNS:

        def messages() -> Iterator[dict[str, Any]]:
            for row in rows():
                ts = row["ts"]
                row["ts"] = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
                row["author"] = row["author"] or ""
                yield row

        return _message_groups(VerifyResult("parquet/messages"), messages(), key)
    if names in (CONVERSATION_COLUMNS, EARLIER_CONVERSATION_COLUMNS):
        return _seals_only(VerifyResult("parquet/conversations"), rows(), key)
    raise BadRequest(f"{path}: not a chatserver export (unknown Parquet columns)")


def verify_file(path: str | Path, seal_key: bytes | None = None) -> VerifyResult:
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise BadRequest(f"cannot read {path}: {exc.strerror}") from None
    if head == b"PAR1":
        return _parquet(path, seal_key)
    if head.startswith(b"{"):
        return _jsonl(path, seal_key)
    if head:
        return _csv(path, seal_key)
    return VerifyResult("empty")
