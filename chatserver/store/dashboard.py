"""`DashboardQueries`: the reads behind the supervisor dashboard's conversation list.

Guarantees:

Consistent
    One call reads one committed state: the total and the page's rows agree, whatever the hub
    writes meanwhile.
Out of the hub's way
    The scan runs on a read-only connection of its own, off the event loop, so a slow filter
    over a large store delays neither the hub's reads nor its writes.
Ordered, a page at a time by keyset
    Newest first: by ``created_at`` descending, then the most recently stored first. A page
    ends with a `PageCursor` to the next (older) one and, when it is not the first, one to the
    previous (newer) one; a page starts where its cursor points, so conversations that arrive
    meanwhile neither shift nor repeat rows, and any page costs what the first does (every
    filter walks an index in the list's order: no OFFSET, no sort).
Checked
    An ``agent`` that names no account (by username, any case, or by id) raises
    `NotFoundError` ("no agent 'name'"); a cursor that is not one `PageCursor.parse` reads
    raises `BadCursor` (a `ValueError`).

Periods apply to a conversation's arrival (``created_at``): ``since`` inclusive, ``until``
exclusive; ``agent`` selects the conversations the agent was assigned at any time, ``tag``
those carrying the tag.

`DashboardQueries.bots_today` counts the bots' conversations in one snapshot too: those a bot
holds now (every arrival), and of those that arrived since a moment, the bot-resolved and the
handed-over ones (``docs/analytics.md``: the same definitions as the figures').
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal, Protocol, Self

import orjson

__all__ = [
    "BadCursor",
    "BotsToday",
    "ConversationQuery",
    "ConversationRow",
    "ConversationsPage",
    "DashboardQueries",
    "PageCursor",
]


class BadCursor(ValueError):
    """A page cursor that no page handed out."""


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a page starts: the rows ``older`` (or ``newer``) than the row at (``created_at``,
    ``rowid``) — the store's insertion order, the list's tie-break. Handed out as an opaque
    token (`token`), read back by `parse`."""

    direction: Literal["older", "newer"]
    created_at: str
    rowid: int

    def token(self) -> str:
        raw = orjson.dumps([self.direction[0], self.created_at, self.rowid])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> Self:
        problem = (
            f"cursor {token[:60]!r} is not a page cursor of this list; start again from the"
            " first page (no cursor)"
        )
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            way, created_at, rowid = orjson.loads(raw)
        except (binascii.Error, ValueError, TypeError):
            raise BadCursor(problem) from None
        if way not in ("o", "n") or not isinstance(created_at, str) or type(rowid) is not int:
            raise BadCursor(problem)
        return cls("older" if way == "o" else "newer", created_at, rowid)


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """Which conversations, and which page of them: the first (newest) without a ``cursor``."""

    since: str | None = None
    until: str | None = None
    topic: str | None = None
    agent: str | None = None
    tag: str | None = None
    status: str | None = None
    cursor: PageCursor | None = None
    per_page: int = 25


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One line of the list: ``agent`` is the last assigned agent's display name; ``bot`` the
    name of the bot that holds the conversation now (None once handed over or closed, or if no
    bot ever held it; the bot's id when the bot was deleted)."""

    conversation_id: str
    created_at: str
    closed_at: str | None
    topic: str
    language: str
    status: str
    rating: int | None
    tags: tuple[str, ...]
    agent: str | None
    visitor_name: str | None
    messages: int
    bot: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationsPage:
    """``total`` matching conversations, of which ``rows`` is the requested page; ``older``
    and ``newer`` point to the pages after and before it (None: there is none)."""

    total: int
    rows: tuple[ConversationRow, ...]
    older: PageCursor | None = None
    newer: PageCursor | None = None


@dataclass(frozen=True, slots=True)
class BotsToday:
    """The bots' part of the floor: ``held`` conversations a bot holds now (not handed over,
    not closed); of the conversations that arrived since the moment asked for, ``resolved``
    (a bot's, closed, never handed over) and ``handed_over``."""

    held: int
    resolved: int
    handed_over: int


class DashboardQueries(Protocol):
    """The dashboard's list of conversations and the bots' figures."""

    async def conversations_page(self, query: ConversationQuery) -> ConversationsPage:
        """The matching conversations' count and one page of them, newest first."""

    async def bots_today(self, since: str) -> BotsToday:
        """What the bots hold now, and what they resolved and handed over of the
        conversations that arrived since ``since`` (an ISO time), read in one snapshot."""
