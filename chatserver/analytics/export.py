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
    a row per message: `MESSAGE_COLUMNS`.
``csv``/``parquet`` shape ``conversations``
    a row per conversation: `CONVERSATION_COLUMNS`, the transcript as text included.

In CSV, a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
leading ``'`` so that a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from . import digest as digests
from .errors import BadRequest
from .filters import Filters
from .redact import KnownPII, Redactor, redact_text
from .source import RawConversation, Snapshot

__all__ = [
    "CONVERSATION_COLUMNS",
    "FORMATS",
    "MESSAGE_COLUMNS",
    "SHAPES",
    "Export",
    "ExportOptions",
    "ExportStats",
    "content_type",
    "duration_ms",
    "ts_ms",
]

Format = Literal["jsonl", "csv", "parquet"]
Shape = Literal["messages", "conversations"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "parquet")
SHAPES: tuple[str, ...] = ("messages", "conversations")

MESSAGE_COLUMNS: tuple[str, ...] = (
    "conversation_id", "seq", "ts", "topic", "language", "role", "author", "text", "digest",
    "seal",
)  # fmt: skip
CONVERSATION_COLUMNS: tuple[str, ...] = (
    "conversation_id", "visitor", "site", "topic", "language", "status", "agents",
    "created_at", "first_assigned_at", "first_response_at", "closed_at", "closed_by",
    "wait_s", "first_response_s", "handle_s", "transfers", "abandoned", "messages", "tags",
    "rating", "comment", "page_url", "transcript", "digest", "seal",
)  # fmt: skip

CHUNK = 64 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Body fields that hold no personal data; every other string in a body is redacted.
_SAFE_KEYS = frozenset(
    {"agent_id", "username", "display_name", "offer_id", "by", "topic", "language", "to_topic",
     "from_agent", "to_agent", "reason", "tags", "all", "position", "score"}
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


_MS = timedelta(milliseconds=1)


def ts_ms(ts: str) -> int:
    """The store's ISO 8601 UTC timestamp as integer milliseconds since the epoch (exact)."""
    return (datetime.fromisoformat(ts) - _EPOCH) // _MS


def duration_ms(start: str | None, end: str | None) -> int | None:
    if start is None or end is None:
        return None
    return ts_ms(end) - ts_ms(start)


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


def _cell(value: str) -> str:
    """A CSV text cell: a leading ``'`` when it starts like a formula (or with ``'`` itself,
    so that `uncell` can always take it off again)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def uncell(value: str) -> str:
    """The text a CSV cell written by `_cell` stands for."""
    return value[1:] if value.startswith("'") else value


class Export:
    """One export over a snapshot. ``cursor`` (for ``--after`` next time) is known up front:
    it is where the snapshot ends."""

    def __init__(self, snapshot: Snapshot, options: ExportOptions) -> None:
        self.snapshot = snapshot
        self.options = options
        self.cursor = snapshot.cursor
        self.stats = ExportStats()
        self._redactor = Redactor(snapshot.key("pseudonym"))
        self._seal_key = snapshot.key("seal")
        self._agents = snapshot.agents()
        self._agent_cache: dict[str, str] = {}
        if options.format == "parquet":
            from . import _parquet

            _parquet.require()
        snapshot.where(options.filters)  # a bad filter fails now, before any byte is sent

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
                if e[4] == "agent" and first_response is None:
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
                body = _redact_body(kind, body, known)
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
            comment = _redact(comment, known)
            page_url = _redact(page_url, known)
        abandoned = row.status == "closed" and first_assigned is None
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
            "metrics": {
                "first_assigned_at": first_assigned,
                "first_response_at": first_response,
                "wait_s": _seconds(duration_ms(row.created_at, first_assigned)),
                "first_response_s": _seconds(duration_ms(row.created_at, first_response)),
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
        else:
            from . import _parquet

            if shape == "messages":
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

    def message_groups(self) -> Iterator[tuple[list[tuple[Any, ...]], str, str]]:
        """The messages shape: per conversation, its rows (`MESSAGE_COLUMNS` but the last
        two), its digest and its seal. The fast path: SQLite hands out the rows nearly ready,
        and only the rows that redaction changes are rebuilt."""
        stats = self.stats
        redact = self.options.redact
        redactor = self._redactor
        seal_key = self._seal_key
        loads = orjson.loads
        for conv, start_body, rows in self.snapshot.message_scan(self.options.filters):
            if redact and rows:
                start = loads(start_body) if start_body else {}
                known = redactor.known(
                    conv.visitor_id,
                    (conv.visitor_name, start.get("name")),
                    (conv.visitor_email, start.get("email")),
                )
                pseudonym = known.pseudonym
                texts = Redactor.many([r[7] for r in rows], known)
                rows = [
                    (*r[:6], pseudonym, t)
                    if r[5] == "visitor" and r[6]
                    else (r if t == r[7] else (*r[:7], t))
                    for r, t in zip(rows, texts, strict=True)
                ]
            digest = digests.messages_digest(conv.id, rows)
            stats.conversations += 1
            stats.events += len(rows)
            stats.messages += len(rows)
            yield rows, digest, digests.seal(seal_key, digest)

    def _csv_messages(self) -> Iterator[bytes]:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(MESSAGE_COLUMNS)
        blank = ("", "")
        for rows, digest, seal in self.message_groups():
            for i, r in enumerate(rows):
                if r[7].startswith(_FORMULA_START) or r[6].startswith(_FORMULA_START):
                    r = (*r[:6], _cell(r[6]), _cell(r[7]))
                # The digest and seal go on the conversation's first row only: repeated on
                # every row they would double the file and the time it takes to write it.
                rows[i] = r + blank if i else (*r, digest, seal)
            writer.writerows(rows)
            if text.tell() >= CHUNK:
                yield text.getvalue().encode()
                text.seek(0)
                text.truncate()
        if text.tell():
            yield text.getvalue().encode()

    def _csv_conversations(self) -> Iterator[bytes]:
        return self._csv(
            CONVERSATION_COLUMNS,
            (_cells(conversation_row(doc)) for doc in self.documents()),
        )


def _cells(row: list[Any]) -> list[Any]:
    return [_cell(v) if isinstance(v, str) else v for v in row]


def transcript(events: list[dict[str, Any]]) -> str:
    """The conversation as text: one line per message or note, with a marker per transfer."""
    lines: list[str] = []
    for e in events:
        kind = e["kind"]
        if kind in ("message", "note"):
            actor = e["actor"]
            who = actor["name"] or actor["role"]
            label = "note" if kind == "note" else actor["role"]
            lines.append(
                f"[{e['ts'][:19].replace('T', ' ')}] {who} ({label}): {e['body'].get('text', '')}"
            )
        elif kind == "transfer":
            target = e["body"].get("to_agent") or e["body"].get("to_topic") or "another agent"
            lines.append(f"[{e['ts'][:19].replace('T', ' ')}] — transferred to {target} —")
    return "\n".join(lines)


def conversation_row(doc: dict[str, Any]) -> list[Any]:
    conv = doc["conversation"]
    m = conv["metrics"]
    return [
        conv["conversation_id"], conv["visitor"], conv["site"], conv["topic"], conv["language"],
        conv["status"], ";".join(conv["agents"]), conv["created_at"], m["first_assigned_at"],
        m["first_response_at"], conv["closed_at"], conv["closed_by"], m["wait_s"],
        m["first_response_s"], m["handle_s"], m["transfers"], m["abandoned"], m["messages"],
        ";".join(conv["tags"]), conv["rating"], conv["rating_comment"], conv["page_url"],
        transcript(doc["events"]), doc["digest"], doc["seal"],
    ]  # fmt: skip


def _redact(value: str | None, known: KnownPII) -> str | None:
    return None if value is None else Redactor.text(value, known)


def _redact_value(value: Any, known: KnownPII) -> Any:
    if isinstance(value, str):
        return Redactor.text(value, known)
    if isinstance(value, list):
        return [_redact_value(v, known) for v in value]
    if isinstance(value, dict):
        return {k: v if k in _SAFE_KEYS else _redact_value(v, known) for k, v in value.items()}
    return value


def _redact_body(kind: str, body: dict[str, Any], known: KnownPII) -> dict[str, Any]:
    if kind == "message" or kind == "note":
        text = body.get("text")
        if isinstance(text, str) and len(body) == 1:
            return {"text": redact_text(known.apply(text))}
    elif kind == "start":
        out = dict(body)
        if out.get("name"):
            out["name"] = known.pseudonym
        if out.get("email"):
            out["email"] = "[EMAIL]"
        if isinstance(out.get("page_url"), str):
            out["page_url"] = Redactor.text(out["page_url"], known)
        return out
    elif kind == "assigned" or kind == "tag":
        return body
    return {k: v if k in _SAFE_KEYS else _redact_value(v, known) for k, v in body.items()}
