"""`SnapshotSource` and `ReadSnapshot`: the read model analytics runs on.

Exports, the figures (``chatserver report``, ``/api/v1/analytics/*``) and the dashboard's
charts are long sequential scans. They do not go through the store's own connections:
`SnapshotSource.snapshot` opens a connection of the snapshot's own and holds one read-only
transaction for its whole life — synchronous on purpose (exports and figures are CPU work over
a sequential scan), called by the CLI directly and by the HTTP routes in a worker thread, so a
scan of a fortnight never delays the hub. It needs the database, not the store's writer: a
store need not be open to give one.

Guarantees:

Committed only, one state
    Every query of a snapshot sees exactly the transactions committed before its first read,
    however long it lasts and whatever the hub writes meanwhile; it never blocks a writer.
Constant memory
    Rows are streamed from the database (cursors, server-side where the database has them):
    a scan holds one conversation at a time, whatever the size of the store.
Same order, same bytes
    Conversations come oldest first (``created_at``, then the order they were stored in), each
    one's events in seq order; every implementation hands out the same rows, in the same order,
    with the same values for the same stored data (texts out of JSON bodies as SQLite's
    ``json_extract`` gives them), so exports and figures are byte for byte the same whatever
    the database.
Incremental exports miss nothing
    `ReadSnapshot.cursor` marks where a snapshot ends; selecting ``after`` it later takes every
    conversation with an event the earlier snapshot could not see (and perhaps a few it saw:
    the unit re-exported is a whole conversation). A cursor names the kind of store that
    printed it, and another kind refuses it (`BadSelection`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple, Protocol, Self

from .base import StoreError
from .rollups import RollupTodo

__all__ = [
    "AgentInfo",
    "BadSelection",
    "ConversationRow",
    "Cursor",
    "EventRow",
    "FigureRow",
    "Filters",
    "MessageEvent",
    "MessageOwner",
    "RatedText",
    "RawConversation",
    "ReadSnapshot",
    "SnapshotSource",
]

StoreKind = Literal["sqlite", "postgresql"]


class BadSelection(StoreError):
    """A selection this store cannot answer: an unknown agent, a cursor of another store."""

    code: ClassVar[str] = "bad_request"


# --- what a scan selects --------------------------------------------------------------------

_PREFIX: dict[StoreKind, str] = {"sqlite": "v1", "postgresql": "pg1"}
_CURSOR = re.compile(r"^(v1|pg1)\.(\d{1,19})\.(\d{1,19})$")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a snapshot ended, for incremental exports. ``store`` is the kind of store that
    printed it; ``mark`` and ``deletions`` are that store's own: on SQLite the newest events
    rowid and the number of event deletions (purges, forget-visitor) so far, text form
    ``v1.<rowid>.<deletions>``; on PostgreSQL the oldest transaction still running when the
    snapshot was taken (``pg_snapshot_xmin``), text form ``pg1.<xid>.0``."""

    store: StoreKind
    mark: int
    deletions: int = 0

    def __str__(self) -> str:
        return f"{_PREFIX[self.store]}.{self.mark}.{self.deletions}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """A cursor from its text form; `ValueError` if it is not one a store printed."""
        match = _CURSOR.match(text.strip())
        if match is None:
            raise ValueError(
                f"cursor {text!r} is not one this hub printed (they look like v1.1234.0 on"
                " SQLite, pg1.1234.0 on PostgreSQL)"
            )
        store: StoreKind = "sqlite" if match[1] == "v1" else "postgresql"
        return cls(store, int(match[2]), int(match[3]))


@dataclass(frozen=True, slots=True)
class Filters:
    """What a scan selects. Periods apply to a conversation's arrival (``created_at``):
    ``since`` inclusive, ``until`` exclusive. ``agent`` (a username, any case, or an id)
    selects the conversations the agent took part in (any ``assigned`` event naming them);
    ``tag`` those carrying the tag; ``ratings`` those rated with one of the scores; ``after``
    those with an event newer than the cursor."""

    since: str | None = None
    until: str | None = None
    topic: str | None = None
    agent: str | None = None
    tag: str | None = None
    ratings: frozenset[int] | None = None
    after: Cursor | None = None

    def describe(self) -> dict[str, object]:
        """The filters as JSON-ready values (for the audit log and the report)."""
        return {
            "since": self.since,
            "until": self.until,
            "topic": self.topic,
            "agent": self.agent,
            "tag": self.tag,
            "rating": sorted(self.ratings) if self.ratings is not None else None,
            "after": str(self.after) if self.after is not None else None,
        }


# --- the rows -------------------------------------------------------------------------------


class EventRow(NamedTuple):
    """An event as stored (index by position: the scans hand out plain tuples this shape)."""

    conversation_id: str
    seq: int
    ts: str
    kind: str
    actor_role: str
    actor_id: str | None
    actor_name: str | None
    client_id: str | None
    body: str  # JSON text as stored


class ConversationRow(NamedTuple):
    id: str
    visitor_id: str
    site: str
    topic: str
    language: str
    status: str
    created_at: str
    closed_at: str | None
    closed_by: str | None
    page_url: str | None
    rating: int | None
    rating_comment: str | None
    tags: str  # JSON list
    last_seq: int
    last_agent_id: str | None
    visitor_name: str | None
    visitor_email: str | None
    bot_id: str | None = None  # the bot that held it first (None: never a bot's)
    handed_over_at: str | None = None  # when its bot handed it to the agents' queue


#: (conversation_id, seq, ts, role, author, body): a message as `ReadSnapshot.message_scan`
#: hands it out, the body as stored (JSON text; see `ReadSnapshot.message_texts`).
MessageEvent = tuple[str, int, str, str, str, str]
#: (conversation id, rating, visitor id, visitor name, visitor e-mail, text).
RatedText = tuple[str, int, str, str | None, str | None, str]


class MessageOwner(NamedTuple):
    """What the messages shape needs of a conversation besides its messages."""

    id: str
    visitor_id: str
    topic: str
    language: str
    visitor_name: str | None
    visitor_email: str | None
    start_body: str | None  # the JSON body of its first ``start`` event, if any


class RawConversation(NamedTuple):
    row: ConversationRow
    events: list[EventRow]


class FigureRow(NamedTuple):
    """What the figures need of one conversation: its row, with the facts the append path keeps
    on it from its events (first assignment, first agent reply, transfers), and its bot's part
    (``bot_id``: the bot that held it first; ``handed_over_at``: when the bot handed it to the
    agents' queue — the wait counts from then)."""

    id: str
    topic: str
    status: str
    created_at: str
    closed_at: str | None
    rating: int | None
    rating_comment: str | None
    tags: str
    last_agent_id: str | None
    first_assigned_at: str | None
    first_response_at: str | None
    transfers: int
    bot_id: str | None = None
    handed_over_at: str | None = None


class AgentInfo(NamedTuple):
    id: str
    username: str
    display_name: str


# --- the protocols --------------------------------------------------------------------------


class ReadSnapshot(Protocol):
    """A consistent, read-only view of the store; close it (or use ``with``). Not shared
    between threads at once. Errors: `BadSelection` for a selection the store cannot answer,
    `UnavailableError` when the database cannot be read (or predates analytics)."""

    @property
    def cursor(self) -> Cursor:
        """Where this snapshot ends: ``after`` it, a later export takes what is new."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def close(self) -> None:
        """End the read transaction and close the connection. Idempotent."""
        ...

    def key(self, name: str) -> bytes:
        """The analytics key ``name`` (``pseudonym``, ``seal``): 32 bytes made once per database."""
        ...

    def agents(self) -> dict[str, AgentInfo]:
        """Every agent by id."""
        ...

    def resolve_agent(self, name: str) -> str:
        """An agent's id from its username (any case) or id; `BadSelection` if unknown."""
        ...

    def check(self, filters: Filters) -> None:
        """Raise now what a scan with ``filters`` would (an unknown agent, a foreign cursor)."""
        ...

    def count(self, filters: Filters) -> int:
        """How many conversations match."""
        ...

    def count_closed_before(self, cutoff: str) -> int:
        """How many closed conversations a purge with ``cutoff`` would delete."""
        ...

    def conversations(self, filters: Filters) -> Iterator[RawConversation]:
        """Matching conversations in order, each with every event, in seq order."""
        ...

    def message_scan(self, filters: Filters) -> Iterator[tuple[MessageOwner, list[MessageEvent]]]:
        """Per matching conversation, in order: what the messages shape needs of it and its
        ``message`` events (their bodies as stored; the texts come from `message_texts`)."""
        ...

    def message_texts(self, events: list[MessageEvent]) -> str | list[str]:
        """The texts of a conversation's messages, as ``CAST(coalesce(json_extract(body,
        '$.text'), '') AS TEXT)`` gives them in SQLite: joined by NUL when every body is the
        plain ``{"text":"…"}``, else one string per message."""
        ...

    def figure_rows(self, filters: Filters) -> Iterator[FigureRow]:
        """What the figures need of each matching conversation, in order."""
        ...

    def rated_texts(self, filters: Filters, scores: frozenset[int]) -> Iterator[RatedText]:
        """What visitors wrote (their messages, then the rating comment; non-empty strings
        only) in matching conversations rated with one of ``scores``."""
        ...

    # The rollups (`chatserver.store.rollups`): periods are days (2026-05-01) or hours
    # (2026-05-01T14), ranges [first, end) of them as text.

    def rollup_periods(self, first: str | None, end: str | None, *, hours: bool) -> list[str]:
        """The clean days (or, ``hours``, hours) of the range (None: open at that end), oldest
        first: built from a snapshot that saw every change to them (their cells are exact)."""
        ...

    def rollup_cells(
        self, first: str, end: str, topic: str, *, hours: bool
    ) -> list[tuple[str, str, str]]:
        """(period, agent, cell) of the range's day (or hour) cells of ``topic`` (``''``: every
        topic), by period then agent (``''`` first: the cell of every conversation)."""
        ...

    def rollup_topic_cells(
        self, first: str, end: str, *, hours: bool
    ) -> list[tuple[str, str, str]]:
        """(period, topic, cell) of the range's per-topic day (or hour) cells (every agent)."""
        ...

    def rollup_todo(self) -> RollupTodo:
        """The units to build: marked ones and those never built, from the first
        conversation's hour to the cutoff (the hour an hour ago, by the database's clock) —
        whole days before the cutoff's day, hours of that day."""
        ...


class SnapshotSource(Protocol):
    """Where analytics' read-only snapshots come from."""

    def snapshot(self) -> ReadSnapshot:
        """A new snapshot of the committed state (blocking: call it from a worker thread in
        async code). Works on a store that is not open, as long as its database exists."""
        ...
