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
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal, NamedTuple

import orjson

from . import _parquet
from . import digest as digests
from .errors import BadRequest
from .filters import Filters
from .redact import KnownPII, Redactor, redact_text
from .rows import CONVERSATION_COLUMNS, MESSAGE_COLUMNS, conversation_row, duration_ms
from .source import MessageRow, RawConversation, Snapshot

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
# Body fields that hold no personal data; every other string in a body is redacted.
_SAFE_KEYS = frozenset(
    {"agent_id", "username", "display_name", "offer_id", "by", "topic", "language", "to_topic",
     "from_agent", "to_agent", "reason", "tags", "all", "position", "score"}
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


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


# --- the messages shape's CSV -----------------------------------------------------------------
#
# ``csv.writer`` costs about 2 µs a row (it looks every character up in the line terminator),
# more than everything else the export does to a message. The messages shape is written by
# `_message_block` instead, a conversation at a time, with the very bytes ``csv.writer`` (excel
# dialect, ``QUOTE_MINIMAL``, ``\r\n``) would write: a field is quoted when it holds a comma, a
# double quote, CR or LF, and its double quotes are doubled. The checks are made per column
# over the conversation's values joined together; a conversation with anything unexpected in
# a column the fast path takes as is (a quote in a timestamp, a seq that is not a number) is
# written by ``csv.writer`` itself (`_message_block_slow`). tests/analytics/test_export.py
# compares the two on awkward values.

# A NUL and a formula's first character: one regex search with a literal first character,
# several times faster than a substring test per character.
_FORMULA_AFTER_NUL = re.compile("\0[" + re.escape("".join(_FORMULA_START)) + "]")


def _field(value: Any) -> str:
    """One CSV field as ``csv.writer`` writes it (``None`` is empty, numbers as ``str``)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if "," in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _plain(joined: str) -> bool:
    """Whether no value in ``joined`` (values joined by NUL) needs quoting."""
    return not ("," in joined or '"' in joined or "\r" in joined or "\n" in joined)


def _starts_formula(joined: str) -> bool:
    """Whether a value in ``joined`` (values joined by NUL) might start like a formula (NULs
    inside a value can only make this say yes when the answer is no, never the reverse)."""
    return joined.startswith(_FORMULA_START) or _FORMULA_AFTER_NUL.search(joined) is not None


#: A conversation's messages column by column: seq, ts, role, author and text.
Columns = tuple[Sequence[Any], Sequence[Any], Sequence[Any], Sequence[Any], Sequence[Any]]


class _Group(NamedTuple):
    """A conversation in the messages shape, as `Export._message_groups` hands it out."""

    rows: list[MessageRow]
    columns: Columns  # the columns of the rows that vary (the others are the conversation's)
    texts: str | None  # the texts joined by NUL, if at hand
    dumped: bytes  # orjson.dumps(rows), what the digest is made of
    digest: str
    seal: str
    pseudonym: str | None  # the visitor's, as author (``Visitor-…``, never like a formula)


def _message_block(group: _Group, plain_authors: set[str] | None = None) -> str:
    """A conversation's rows in the messages shape as CSV text (digest and seal on the first
    row only), exactly as ``csv.writer`` writes them.

    Nearly always a quick path: if the rows as JSON hold no backslash, no field holds a
    double quote, CR or LF (JSON escapes them), and if their commas are the JSON's own
    (``8 * rows - 1``) and the texts', only texts with a comma are quoted. ``plain_authors``
    remembers, from one conversation to the next, authors known not to start like a
    formula (the agents, mostly)."""
    rows, (seqs, stamps, roles, authors, texts), joined, dumped, digest, seal, p = group
    try:
        sum(seqs)  # a TypeError unless every seq is a number (whose text needs no quotes)
        if joined is None:
            joined = "\0".join(texts)
        if (
            b"\\" in dumped
            or dumped.count(b",") != 8 * len(rows) - 1 + joined.count(",")
            or _starts_formula(joined)
            or not _plain_authors(authors, plain_authors, p)
        ):
            return _message_block_careful(group)
    except (TypeError, ValueError, AttributeError):  # a value of another type: csv.writer
        return _message_block_slow(rows, digest, seal)
    first = rows[0]
    lead = f"{first[0]},"
    mid = f",{first[3]},{first[4]},"
    lines = [
        f'{lead}{seq},{ts}{mid}{role},{author},"{text}",,\r\n'
        if "," in text
        else f"{lead}{seq},{ts}{mid}{role},{author},{text},,\r\n"
        for seq, ts, role, author, text in zip(seqs, stamps, roles, authors, texts, strict=True)
    ]
    lines[0] = f"{lines[0][:-4]},{digest},{seal}\r\n"
    return "".join(lines)


def _plain_authors(
    authors: Sequence[str], known: set[str] | None, pseudonym: str | None = None
) -> bool:
    """Whether no author starts like a formula, ``pseudonym`` and those in ``known`` taken as
    checked (and those checked now added to ``known``, up to a few thousand)."""
    names = set(authors)
    if pseudonym is not None:
        names.discard(pseudonym)
    if known is not None:
        if names <= known:
            return True
        names -= known
    if _starts_formula("\0".join(names)):
        return False
    if known is not None:
        if len(known) > 4096:
            known.clear()
        known |= names
    return True


def _message_block_careful(group: _Group) -> str:
    """`_message_block` when a value needs more than quotes around a comma: each column
    checked (and its values quoted) on its own."""
    rows, (seqs, stamps, roles, authors, texts), joined, _, digest, seal, _ = group
    try:
        if not _plain("\0".join(stamps)) or not _plain("\0".join(roles)):
            return _message_block_slow(rows, digest, seal)
        if joined is None:
            joined = "\0".join(texts)
        if _starts_formula(joined):
            texts = tuple(map(_cell, texts))
            joined = "\0".join(texts)
        if '"' in joined or "\r" in joined or "\n" in joined:
            texts = tuple(map(_field, texts))
        elif "," in joined:
            texts = tuple([f'"{t}"' if "," in t else t for t in texts])
        cells = {a: _field(_cell(a)) for a in set(authors)}
        if any(a != cell for a, cell in cells.items()):
            authors = tuple(map(cells.__getitem__, authors))
    except (TypeError, ValueError, AttributeError):
        return _message_block_slow(rows, digest, seal)
    first = rows[0]
    lead = _field(first[0]) + ","
    mid = f",{_field(first[3])},{_field(first[4])},"
    lines = [
        f"{lead}{seq},{ts}{mid}{role},{author},{text},,\r\n"
        for seq, ts, role, author, text in zip(seqs, stamps, roles, authors, texts, strict=True)
    ]
    lines[0] = f"{lines[0][:-4]},{digest},{seal}\r\n"
    return "".join(lines)


def _message_block_slow(rows: list[tuple[Any, ...]], digest: str, seal: str) -> str:
    """`_message_block` by ``csv.writer``, row by row."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    for i, r in enumerate(rows):
        author = _cell(r[6]) if isinstance(r[6], str) else r[6]
        body = _cell(r[7]) if isinstance(r[7], str) else r[7]
        writer.writerow((*r[:6], author, body, *((digest, seal) if i == 0 else ("", ""))))
    return text.getvalue()


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

    def _message_groups(self) -> Iterator[_Group]:
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
                yield _Group([], ((), (), (), (), ()), None, b"[]", digest, seal(digest), None)
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
            yield _Group(rows, columns, joined, dumped, digest, seal(digest), p)

    def _csv_messages(self) -> Iterator[bytes]:
        parts = [",".join(MESSAGE_COLUMNS) + "\r\n"]
        size = 0
        plain_authors: set[str] = set()
        for group in self._message_groups():
            if not group.rows:
                continue
            block = _message_block(group, plain_authors)
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
            (_cells(conversation_row(doc)) for doc in self.documents()),
        )


def _cells(row: list[Any]) -> list[Any]:
    return [_cell(v) if isinstance(v, str) else v for v in row]


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
