"""Streamed exports: JSONL, CSV (a row per message or per conversation) and Parquet.

``Export(snapshot, options).chunks()`` yields the file as byte chunks of about 64 KiB, one
conversation at a time: memory holds one conversation and one chunk, whatever the size of the
store. The same generator feeds the CLI (to a file or standard output) and the HTTP response.

Every conversation is turned into one `dict` (see `build`): the conversation's fields, its
metrics, its events — redacted unless ``redact=False`` — and the digest and seal over those
events (see `digest`). The formats are views of that dict:

``jsonl``
    ``{"conversation": {…, "metrics": {…}}, "events": [{seq, ts, kind, actor, client_id,
    body}…], "digest", "seal"}`` per line.
``csv``/``parquet`` shape ``messages``
    a row per message: `rows.MESSAGE_COLUMNS`.
``csv``/``parquet`` shape ``conversations``
    a row per conversation: `rows.CONVERSATION_COLUMNS`, the transcript as text included.

In CSV, a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
leading ``'`` so that a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal

import orjson

from chatserver.store.snapshots import Filters, RawConversation, ReadSnapshot

from . import _parquet
from . import digest as digests
from .csv_text import MessageGroup, cells, message_block
from .errors import BadRequest
from .redact import Redactor, redact_body, redact_optional
from .redact_known import KnownPII
from .rows import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    MessageRow,
    conversation_row,
    duration_ms,
)

__all__ = [
    "FORMATS",
    "SHAPES",
    "Export",
    "ExportOptions",
    "ExportStats",
    "content_type",
]

Format = Literal["jsonl", "csv", "parquet"]
Shape = Literal["messages", "conversations"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet")
SHAPES: tuple[str, ...] = ("messages", "conversations")

CHUNK = 64 * 1024


def content_type(fmt: str) -> str:
    return {
        "jsonl": "application/x-ndjson",
        "csv": "text/csv; charset=utf-8",
        "parquet": "application/vnd.apache.parquet",
    }[fmt]


@dataclass(frozen=True, slots=True)
class ExportOptions:
    format: Format = "jsonl"
    shape: Shape = "messages"
    filters: Filters = field(default_factory=Filters)
    redact: bool = True

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise BadRequest(f"format {self.format!r}: expected one of {', '.join(FORMATS)}")
        if self.shape not in SHAPES:
            raise BadRequest(f"shape {self.shape!r}: expected one of {', '.join(SHAPES)}")


@dataclass(slots=True)
class ExportStats:
    conversations: int = 0
    messages: int = 0
    events: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class Export:
    """One export over a snapshot. ``cursor`` (for ``--after`` next time) is known up front:
    it is where the snapshot ends."""

    def __init__(self, snapshot: ReadSnapshot, options: ExportOptions) -> None:
        self.snapshot = snapshot
        self.options = options
        self.cursor = snapshot.cursor
        self.stats = ExportStats()
        self._redactor = Redactor(snapshot.key("pseudonym"))
        self._seal_key = snapshot.key("seal")
        self._agents = snapshot.agents()
        self._agent_cache: dict[str, str] = {}
        if options.format == "parquet":
            _parquet.require()
        snapshot.check(options.filters)  # a bad filter fails now, before any byte is sent

    def total(self) -> int:
        """How many conversations the export holds (one extra counting query)."""
        return self.snapshot.count(self.options.filters)

    # --- one conversation -------------------------------------------------------------------

    def build(self, raw: RawConversation) -> dict[str, Any]:
        """The conversation as exported: fields, metrics, events, digest and seal."""
        row = raw.row
        redact = self.options.redact
        known: KnownPII | None = None
        starts: list[dict[str, Any]] = []
        bodies = [orjson.loads(e[8]) for e in raw.events]
        if redact:
            for e, body in zip(raw.events, bodies, strict=True):
                if e[3] == "start":
                    starts.append(body)
            known = self._redactor.known(
                row.visitor_id,
                [row.visitor_name, *(s.get("name") for s in starts)],
                [row.visitor_email, *(s.get("email") for s in starts)],
            )
        visitor_ref = self._redactor.visitor_ref(row.visitor_id) if redact else row.visitor_id
        pseudonym = known.pseudonym if known is not None else None
        events: list[dict[str, Any]] = []
        first_assigned = first_response = None
        transfers = messages = 0
        agents: list[str] = []
        for e, body in zip(raw.events, bodies, strict=True):
            kind = e[3]
            actor_id, actor_name = e[5], e[6]
            if kind == "message":
                messages += 1
                # A person's first reply: a bot's (actor bot:<id>) is not one (docs/bots.md).
                bot = isinstance(actor_id, str) and actor_id.startswith("bot:")
                if e[4] == "agent" and not bot and first_response is None:
                    first_response = e[2]
            elif kind == "assigned":
                if first_assigned is None:
                    first_assigned = e[2]
                username = body.get("username") or self._username(body.get("agent_id"))
                if username and username not in agents:
                    agents.append(username)
            elif kind == "transfer":
                transfers += 1
            if known is not None:
                if e[4] == "visitor":
                    actor_id = visitor_ref
                    actor_name = pseudonym if actor_name else None
                body = redact_body(kind, body, known)
            events.append(
                {
                    "seq": e[1],
                    "ts": e[2],
                    "kind": kind,
                    "actor": {"role": e[4], "id": actor_id, "name": actor_name},
                    "client_id": e[7],
                    "body": body,
                }
            )
        digest = digests.digest(row.id, events)
        comment = row.rating_comment
        page_url = row.page_url
        if known is not None:
            comment = redact_optional(comment, known)
            page_url = redact_optional(page_url, known)
        bot_resolved = row.bot_id is not None and row.handed_over_at is None
        abandoned = row.status == "closed" and first_assigned is None and not bot_resolved
        conversation = {
            "conversation_id": row.id,
            "visitor": visitor_ref,
            "site": row.site,
            "topic": row.topic,
            "language": row.language,
            "status": row.status,
            "created_at": row.created_at,
            "closed_at": row.closed_at,
            "closed_by": row.closed_by,
            "page_url": page_url,
            "rating": row.rating,
            "rating_comment": comment,
            "tags": orjson.loads(row.tags),
            "last_seq": row.last_seq,
            "agents": agents,
            "bot_id": row.bot_id,
            "handed_over_at": row.handed_over_at,
            "metrics": {
                "first_assigned_at": first_assigned,
                "first_response_at": first_response,
                # The bot's time is not waiting: from the handoff, if a bot held it first.
                "wait_s": _seconds(
                    duration_ms(row.handed_over_at or row.created_at, first_assigned)
                ),
                "first_response_s": _seconds(
                    duration_ms(row.handed_over_at or row.created_at, first_response)
                ),
                "handle_s": _seconds(duration_ms(first_assigned, row.closed_at)),
                "transfers": transfers,
                "abandoned": abandoned,
                "messages": messages,
            },
        }
        return {
            "conversation": conversation,
            "events": events,
            "digest": digest,
            "seal": digests.seal(self._seal_key, digest),
        }

    def _username(self, agent_id: Any) -> str | None:
        if not isinstance(agent_id, str):
            return None
        info = self._agents.get(agent_id)
        return info.username if info is not None else agent_id

    # --- the stream -------------------------------------------------------------------------

    def documents(self) -> Iterator[dict[str, Any]]:
        stats = self.stats
        for raw in self.snapshot.conversations(self.options.filters):
            doc = self.build(raw)
            stats.conversations += 1
            stats.events += len(raw.events)
            stats.messages += doc["conversation"]["metrics"]["messages"]
            yield doc

    def chunks(self) -> Iterator[bytes]:
        """The export file, in chunks of about `CHUNK` bytes."""
        fmt, shape = self.options.format, self.options.shape
        if fmt == "jsonl":
            produce: Callable[[], Iterator[bytes]] = self._jsonl
        elif fmt == "csv":
            produce = self._csv_messages if shape == "messages" else self._csv_conversations
        elif shape == "messages":
            produce = lambda: _parquet.message_chunks(self.message_groups())  # noqa: E731
        else:
            produce = lambda: _parquet.conversation_chunks(self.documents())  # noqa: E731
        for chunk in produce():
            self.stats.bytes += len(chunk)
            yield chunk

    def _jsonl(self) -> Iterator[bytes]:
        buffer: list[bytes] = []
        size = 0
        dumps = orjson.dumps
        for doc in self.documents():
            line = dumps(doc) + b"\n"
            buffer.append(line)
            size += len(line)
            if size >= CHUNK:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    def _csv(self, header: tuple[str, ...], rows: Iterator[list[Any]]) -> Iterator[bytes]:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            if text.tell() >= CHUNK:
                yield text.getvalue().encode()
                text.seek(0)
                text.truncate()
        if text.tell():
            yield text.getvalue().encode()

    def message_groups(self) -> Iterator[tuple[list[MessageRow], str, str]]:
        """The messages shape: per conversation, its rows (`rows.MESSAGE_COLUMNS` but the last
        two), its digest and its seal."""
        for group in self._message_groups():
            yield group.rows, group.digest, group.seal

    def _message_groups(self) -> Iterator[MessageGroup]:
        """`message_groups`, with what the CSV writer can use again. The fast path: SQLite
        hands out the messages nearly ready, their texts come out of the bodies for the whole
        conversation at once and are redacted in one pass (`Redactor.many_joined`), and the
        rows are put together column by column (``zip`` does it in C)."""
        stats = self.stats
        redact = self.options.redact
        redactor = self._redactor
        snapshot = self.snapshot
        seal = digests.Sealer(self._seal_key)
        messages_digest = digests.messages_digest
        loads = orjson.loads
        dumps = orjson.dumps
        for conv, events in snapshot.message_scan(self.options.filters):
            count = len(events)
            if not count:
                digest = messages_digest(conv.id, [])
                stats.conversations += 1
                yield MessageGroup(
                    [], ((), (), (), (), ()), None, b"[]", digest, seal(digest), None
                )
                continue
            found = snapshot.message_texts(events)
            joined = found if isinstance(found, str) else None
            ids, seqs, stamps, roles, authors, _ = zip(*events, strict=True)
            p: str | None = None
            if redact:
                start = loads(conv.start_body) if conv.start_body else {}
                known = redactor.known(
                    conv.visitor_id,
                    (conv.visitor_name, start.get("name")),
                    (conv.visitor_email, start.get("email")),
                )
                p = known.pseudonym
                texts, joined = Redactor.many_joined(found, known)
                # A visitor's name as author becomes the pseudonym.
                authors = tuple(
                    [p if r == "visitor" and a else a for r, a in zip(roles, authors, strict=True)]
                )
            else:
                texts = found.split("\0") if isinstance(found, str) else found
            rows: list[MessageRow] = list(
                zip(
                    ids, seqs, stamps, repeat(conv.topic, count), repeat(conv.language, count),
                    roles, authors, texts, strict=True,
                )
            )  # fmt: skip
            dumped = dumps(rows)
            digest = messages_digest(conv.id, rows, dumped)
            stats.conversations += 1
            stats.events += count
            stats.messages += count
            columns = (seqs, stamps, roles, authors, texts)
            yield MessageGroup(rows, columns, joined, dumped, digest, seal(digest), p)

    def _csv_messages(self) -> Iterator[bytes]:
        parts = [",".join(MESSAGE_COLUMNS) + "\r\n"]
        size = 0
        plain_authors: set[str] = set()
        for group in self._message_groups():
            if not group.rows:
                continue
            block = message_block(group, plain_authors)
            parts.append(block)
            size += len(block)
            if size >= CHUNK:
                yield "".join(parts).encode()
                parts, size = [], 0
        if parts:
            yield "".join(parts).encode()

    def _csv_conversations(self) -> Iterator[bytes]:
        return self._csv(
            CONVERSATION_COLUMNS,
            (cells(conversation_row(doc)) for doc in self.documents()),
        )
