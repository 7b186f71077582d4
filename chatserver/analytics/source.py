"""The read model analytics runs on: one consistent snapshot of a SQLite transcript store.

A `Snapshot` opens its own connection to the store's file (``query_only``) and holds one read
transaction for its whole life: every query it answers sees the same committed state, however
long an export takes and whatever the hub writes meanwhile (WAL readers never block the writer;
the WAL only waits to be checkpointed until the snapshot closes). Rows are streamed from
cursors, so memory stays flat whatever the size of the store.

It is synchronous on purpose: exports and figures are CPU work over a sequential scan, run by
the CLI directly and by the HTTP routes in a worker thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson

from .errors import BadRequest, Unsupported
from .filters import Cursor, Filters

C = TypeVar("C", bound=Sequence[Any])

__all__ = [
    "AgentInfo",
    "EventRow",
    "FigureRow",
    "MessageEvent",
    "MessageOwner",
    "MessageRow",
    "RawConversation",
    "Snapshot",
]


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


#: (conversation_id, seq, ts, topic, language, role, author, text): a messages-shape row.
MessageRow = tuple[str, int, str, str, str, str, str, str]
#: (conversation_id, seq, ts, role, author, body): a message as `Snapshot.message_scan` hands
#: it out, the body as stored (JSON text; see `Snapshot.message_texts`).
MessageEvent = tuple[str, int, str, str, str, str]


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
    """What the figures need of one conversation (the event-derived times come from events)."""

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


class AgentInfo(NamedTuple):
    id: str
    username: str
    display_name: str


_CONVERSATION_COLUMNS = (
    "c.id, c.visitor_id, c.site, c.topic, c.language, c.status, c.created_at, c.closed_at,"
    " c.closed_by, c.page_url, c.rating, c.rating_comment, c.tags, c.last_seq, c.last_agent_id,"
    " v.name, v.email"
)
_ROLE = itemgetter(3)  # of a MessageEvent


def _side_by_side(
    parents: Iterable[Sequence[Any]], children: Iterable[C]
) -> Iterator[tuple[Sequence[Any], list[C]]]:
    """Two cursors in the same order, walked together: each parent row (its id first) with
    the child rows whose first column is that id — a merge join that holds one parent's
    children at a time."""
    groups = groupby(children, key=itemgetter(0))
    pending = next(groups, None)
    for parent in parents:
        if pending is not None and pending[0] == parent[0]:
            yield parent, list(pending[1])
            pending = next(groups, None)
        else:
            yield parent, []


_BODY = itemgetter(5)
_EVENT_COLUMNS = (
    "e.conversation_id, e.seq, e.ts, e.kind, e.actor_role, e.actor_id, e.actor_name,"
    " e.client_id, e.body"
)


# Taking a message's text out of its body: `Snapshot.message_texts`. The store writes bodies
# as orjson does, so a message's body is nearly always exactly {"text":"…"} with nothing
# escaped; a whole conversation of those is checked and cut up with a few string operations
# on its bodies joined together, where json_extract on every row in the scan would cost
# about a tenth of the export. Anything else goes through json_extract after all.
_TEXT_OF_BODY = "SELECT CAST(coalesce(json_extract(?, '$.text'), '') AS TEXT)"
_PLAIN_HEAD = '{"text":"'
_PLAIN_TAIL = '"}'
_PLAIN_SEAM = '"}\0{"text":"'  # a tail, the NUL between two bodies, a head
# Control characters (JSON strings hold none unescaped), double quotes and backslashes: none
# may be in a text cut out of its body as it stands.
_NOT_IN_PLAIN = bytes(range(32)) + b'"\\'


def _plain_texts(bodies: str, count: int) -> str | None:
    """The texts of ``count`` message bodies joined by NUL (``bodies``), joined by NUL, if
    every body is exactly ``{"text":"…"}`` with no double quote, backslash or control
    character in the text — so that json_extract would give the text as it stands — or None.

    Why the checks suffice: the first head and the last tail cut off and each seam made a
    NUL, the result is ``len(bodies) - 11 * count`` long only if ``count - 1`` seams were
    replaced, each around its own NUL (a seam holds one, and no two seams overlapped); if
    then no other NUL is left, those were all the NULs, i.e. the ones between the bodies,
    so every body starts with a head and ends with a tail, and a body shorter than both
    (``{"text":"}``) would have made two seams overlap or lost its seam with the first head
    or the last tail. What is left between each head and tail is the text, checked for the
    rest."""
    if not (bodies.startswith(_PLAIN_HEAD) and bodies.endswith(_PLAIN_TAIL)):
        return None
    texts = bodies[len(_PLAIN_HEAD) : -len(_PLAIN_TAIL)].replace(_PLAIN_SEAM, "\0")
    if len(texts) != len(bodies) - 11 * count:
        return None
    # The seams left ``count - 1`` NULs; if those are all the NULs, double quotes,
    # backslashes and control characters there are (each an ASCII byte in UTF-8, and one C
    # pass deletes them all), none is in a text.
    encoded = texts.encode()
    if len(encoded) - len(encoded.translate(None, _NOT_IN_PLAIN)) != count - 1:
        return None
    return texts


class Snapshot:
    """A consistent, read-only view of the store at ``path``; close it (or use ``with``)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BadRequest(f"no transcript store at {self.path}")
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA cache_size = -16000")
            conn.execute("BEGIN")
            # The first read starts the snapshot: everything below sees this state.
            mark = conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0]
            deletions = conn.execute("SELECT coalesce(max(id), 0) FROM event_deletions").fetchone()[
                0
            ]
        except sqlite3.OperationalError as exc:
            conn.close()
            if "no such table" in str(exc):
                raise Unsupported(
                    f"{self.path}: the schema predates analytics; open it once with this"
                    " version of the hub (any chatserver command) to migrate it"
                ) from None
            raise
        self._conn: sqlite3.Connection | None = conn
        self.cursor = Cursor(int(mark), int(deletions))

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                pass
            conn.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("this snapshot is closed")
        return self._conn

    # --- small look-ups -------------------------------------------------------------------

    def key(self, name: str) -> bytes:
        row = self.conn.execute(
            "SELECT value FROM analytics_keys WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise Unsupported(f"{self.path}: no analytics key {name!r}")
        return bytes.fromhex(row[0])

    def agents(self) -> dict[str, AgentInfo]:
        rows = self.conn.execute("SELECT id, username, display_name FROM agents").fetchall()
        return {row[0]: AgentInfo(*row) for row in rows}

    def resolve_agent(self, name: str) -> str:
        """An agent's id from its username (any case) or id; `BadRequest` if unknown."""
        row = self.conn.execute(
            "SELECT id FROM agents WHERE username_key = ? OR id = ?", (name.casefold(), name)
        ).fetchone()
        if row is None:
            raise BadRequest(f"no agent {name!r}")
        return str(row[0])

    def lowest_rowid_after(self, cursor: Cursor) -> int:
        """The rowid above which events are new since ``cursor``: its own, lowered to what a
        later purge or forget-visitor left as the largest (SQLite hands those out again)."""
        row = self.conn.execute(
            "SELECT min(max_rowid_after) FROM event_deletions WHERE id > ?", (cursor.deletions,)
        ).fetchone()
        floor = row[0] if row is not None else None
        return cursor.rowid if floor is None else min(cursor.rowid, int(floor))

    # --- filtered scans ---------------------------------------------------------------------

    def where(self, filters: Filters) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.since is not None:
            clauses.append("c.created_at >= ?")
            params.append(filters.since)
        if filters.until is not None:
            clauses.append("c.created_at < ?")
            params.append(filters.until)
        if filters.topic is not None:
            clauses.append("c.topic = ?")
            params.append(filters.topic)
        if filters.tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ?)")
            params.append(filters.tag)
        if filters.ratings is not None:
            clauses.append("c.rating IN (SELECT value FROM json_each(?))")
            params.append(orjson.dumps(sorted(filters.ratings)).decode())
        if filters.agent is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM events a WHERE a.conversation_id = c.id"
                " AND a.kind = 'assigned' AND json_extract(a.body, '$.agent_id') = ?)"
            )
            params.append(self.resolve_agent(filters.agent))
        if filters.after is not None:
            # "+c.id": not an index to drive the scan from (that would sort); the ids of the
            # changed conversations are looked up in a small list built from a rowid range.
            clauses.append("+c.id IN (SELECT conversation_id FROM events WHERE rowid > ?)")
            params.append(self.lowest_rowid_after(filters.after))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def count(self, filters: Filters) -> int:
        where, params = self.where(filters)
        row = self.conn.execute(f"SELECT count(*) FROM conversations c{where}", params).fetchone()
        return int(row[0])

    def queries(self, filters: Filters) -> dict[str, tuple[str, list[Any]]]:
        """The scans' SQL and parameters, by name (a test checks none of them sorts)."""
        where, params = self.where(filters)
        order = " ORDER BY c.created_at, c.rowid"
        visitors = " LEFT JOIN visitors v ON v.id = c.visitor_id"
        rated = "c.rating IN (SELECT value FROM json_each(?))"
        return {
            "conversations": (
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c{visitors}{where}{order}",
                params,
            ),
            "events": (
                f"SELECT {_EVENT_COLUMNS} FROM conversations c"
                f" CROSS JOIN events e ON e.conversation_id = c.id{where}{order}, e.seq",
                params,
            ),
            "message_conversations": (
                "SELECT c.id, c.visitor_id, c.topic, c.language, v.name, v.email"
                f" FROM conversations c{visitors}{where}{order}",
                params,
            ),
            # The start events come along (with no role, which every other event has): the
            # scan reads their rows anyway, where a subquery per conversation would look
            # each one up again.
            "messages": (
                "SELECT e.conversation_id, e.seq, e.ts,"
                " CASE WHEN e.kind = 'start' THEN NULL ELSE e.actor_role END,"
                " coalesce(e.actor_name, ''), e.body"
                " FROM conversations c CROSS JOIN events e ON e.conversation_id = c.id"
                f" AND e.kind IN ('message', 'start'){where}{order}, e.seq",
                params,
            ),
            "figures": (
                "SELECT c.id, c.topic, c.status, c.created_at, c.closed_at, c.rating,"
                " c.rating_comment, c.tags, c.last_agent_id,"
                " (SELECT min(e.ts) FROM events e WHERE e.conversation_id = c.id"
                "  AND e.kind = 'assigned'),"
                " (SELECT min(e.ts) FROM events e WHERE e.conversation_id = c.id"
                "  AND e.kind = 'message' AND e.actor_role = 'agent'),"
                " (SELECT count(*) FROM events e WHERE e.conversation_id = c.id"
                "  AND e.kind = 'transfer')"
                f" FROM conversations c{where}{order}",
                params,
            ),
            "rated_texts": (
                "SELECT c.id, c.rating, c.visitor_id, v.name, v.email,"
                " json_extract(e.body, '$.text'), json_extract(e.body, '$.comment')"
                f" FROM conversations c CROSS JOIN events e ON e.conversation_id = c.id{visitors}"
                f"{where + ' AND ' if where else ' WHERE '}{rated}"
                " AND ((e.kind = 'message' AND e.actor_role = 'visitor') OR e.kind = 'rating')"
                f"{order}, e.seq",
                params,
            ),
        }

    def conversations(self, filters: Filters) -> Iterator[RawConversation]:
        """Matching conversations, oldest first (created_at, then the order they were stored
        in), each with its events in seq order. Two cursors walk the same order side by side,
        and the plan is forced (``CROSS JOIN``: conversations by the created_at index, then
        each one's events by the primary key) so that SQLite never sorts: memory holds one
        conversation at a time."""
        sql = self.queries(filters)
        conversations = self.conn.execute(*sql["conversations"])
        # Rows stay plain tuples (typed as EventRow, which has the same shape): building a
        # named tuple per event would cost more than fetching it.
        events: Iterator[EventRow] = self.conn.execute(*sql["events"])
        make = ConversationRow._make
        for raw, own in _side_by_side(conversations, events):
            yield RawConversation(make(raw), own)

    def message_scan(self, filters: Filters) -> Iterator[tuple[MessageOwner, list[MessageEvent]]]:
        """The messages shape's fast path: per conversation (in `conversations` order) what
        the shape needs of it and its messages, ``(conversation_id, seq, ts, role, author,
        body)`` (take the texts out with `message_texts`)."""
        sql = self.queries(filters)
        conversations = self.conn.execute(*sql["message_conversations"])
        messages: Iterator[MessageEvent] = self.conn.execute(*sql["messages"])
        make = MessageOwner._make
        for raw, own in _side_by_side(conversations, messages):
            start: str | None = None
            if own:
                if own[0][3] is None:  # the first event is the start, as the hub writes it
                    start = own[0][5]
                    del own[0]
                if not all(map(_ROLE, own)):  # any other start event
                    if start is None:
                        start = next(e[5] for e in own if e[3] is None)
                    own = [e for e in own if e[3] is not None]
            yield make((*raw, start)), own

    def message_texts(self, events: list[MessageEvent]) -> str | list[str]:
        """The texts of a conversation's messages, as ``CAST(coalesce(json_extract(body,
        '$.text'), '') AS TEXT)`` gives them: joined by NUL — what `Redactor.many` works on —
        when every body is plain (see `_plain_texts`), else one by one from SQLite."""
        if events:
            try:
                texts = _plain_texts("\0".join(map(_BODY, events)), len(events))
            except TypeError:  # a body that is not text
                texts = None
            if texts is not None:
                return texts
        execute = self.conn.execute
        return [str(execute(_TEXT_OF_BODY, (e[5],)).fetchone()[0]) for e in events]

    def figure_rows(self, filters: Filters) -> Iterator[FigureRow]:
        for raw in self.conn.execute(*self.queries(filters)["figures"]):
            yield FigureRow._make(raw)

    def rated_texts(
        self, filters: Filters, scores: frozenset[int]
    ) -> Iterator[tuple[str, int, str, str | None, str | None, str]]:
        """(conversation id, rating, visitor id, visitor name, visitor e-mail, text) for what
        visitors wrote in conversations rated with one of ``scores``: their messages, then the
        rating comment."""
        sql, params = self.queries(filters)["rated_texts"]
        params = [*params, orjson.dumps(sorted(scores)).decode()]
        for cid, rating, visitor_id, name, email, text, comment in self.conn.execute(sql, params):
            value = text if text is not None else comment
            if isinstance(value, str) and value:
                yield cid, int(rating), visitor_id, name, email, value
