"""`DashboardQueries`: the reads behind the supervisor dashboard's conversation list.

Guarantees:

Consistent
    One call reads one committed state: the total and the page's rows agree, whatever the hub
    writes meanwhile.
Out of the hub's way
    The scan runs on a read-only connection of its own, off the event loop, so a slow filter
    over a large store delays neither the hub's reads nor its writes.
Ordered
    Newest first: by ``created_at`` descending, then the most recently stored first.
Checked
    An ``agent`` that names no account (by username, any case, or by id) raises
    `NotFoundError` ("no agent 'name'").

Periods apply to a conversation's arrival (``created_at``): ``since`` inclusive, ``until``
exclusive; ``agent`` selects the conversations the agent was assigned at any time, ``tag``
those carrying the tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConversationQuery", "ConversationRow", "ConversationsPage", "DashboardQueries"]


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """Which conversations, and which page of them (``page`` counts from 1)."""

    since: str | None = None
    until: str | None = None
    topic: str | None = None
    agent: str | None = None
    tag: str | None = None
    status: str | None = None
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One line of the list: ``agent`` is the last assigned agent's display name."""

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


@dataclass(frozen=True, slots=True)
class ConversationsPage:
    """``total`` matching conversations, of which ``rows`` is the requested page."""

    total: int
    rows: tuple[ConversationRow, ...]


class DashboardQueries(Protocol):
    """The dashboard's list of conversations."""

    async def conversations_page(self, query: ConversationQuery) -> ConversationsPage:
        """The matching conversations' count and one page of them, newest first."""
