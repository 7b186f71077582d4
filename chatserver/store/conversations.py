"""`Conversations`: visitors, conversations and the router's decisions about them.

Guarantees (the contract tests check each one):

Durable, atomic
    Each write is one transaction that has committed when the call returns (see
    `chatserver.store.transcripts`); an update changes the named fields together or not at all.
Owned counters
    A conversation's ``last_seq`` belongs to the store: `add_conversation` starts it at 0 and
    only appended events move it (`chatserver.store.transcripts`); ``id``, ``visitor_id`` and
    ``created_at`` never change.
Ordered reads
    `list_conversations` returns the oldest first (by ``created_at``, then id); `decisions` the
    oldest first; `list_user_conversations` the oldest first too.
Verified identities
    `list_user_conversations` joins the conversations of every visitor of one site whose
    ``external_id`` was *verified*; a visitor that only claimed the same id (``verified``
    false), or one of another site, never contributes.
Referential
    A conversation names a stored visitor and a decision a stored conversation, or the write
    raises `NotFoundError`.

Lookups (``get_*``) return ``None`` for an unknown id; writes raise `NotFoundError` instead.
"""

from __future__ import annotations

from typing import Any, Protocol

from .base import ConversationRecord, DecisionRecord, JSONObject, VisitorRecord

__all__ = ["Conversations"]


class Conversations(Protocol):
    """Visitors, conversations and routing decisions."""

    # visitors
    async def add_visitor(self, visitor: VisitorRecord) -> None: ...

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None: ...

    async def get_visitor_by_token_hash(self, token_hash: str) -> VisitorRecord | None: ...

    async def update_visitor(self, visitor_id: str, **fields: Any) -> VisitorRecord:
        """Change `VISITOR_FIELDS`; returns the updated record."""

    # conversations
    async def add_conversation(self, conversation: ConversationRecord) -> None:
        """Its ``last_seq`` is ignored: a new conversation starts at 0."""

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def list_conversations(
        self,
        *,
        visitor_id: str | None = None,
        agent_id: str | None = None,
        status: str | set[str] | frozenset[str] | None = None,
        limit: int | None = None,
    ) -> list[ConversationRecord]:
        """Matching conversations, oldest first (by created_at, then id)."""

    async def list_user_conversations(
        self, site: str, external_id: str, *, limit: int | None = None
    ) -> list[ConversationRecord]:
        """The conversations of every visitor of ``site`` verified as ``external_id``, oldest
        first (by created_at, then id); with ``limit``, the latest ``limit`` of them."""

    async def update_conversation(self, conversation_id: str, **fields: Any) -> ConversationRecord:
        """Change `CONVERSATION_FIELDS`; returns the updated record."""

    # routing decisions
    async def add_decision(
        self, conversation_id: str, ts: str, explanation: JSONObject
    ) -> DecisionRecord: ...

    async def decisions(self, conversation_id: str) -> list[DecisionRecord]:
        """Oldest first."""
