"""What the core needs of the world: the parts of the transcript store and of the router it
calls, as protocols. The hub passes the real ones (`chatserver.store`, `routing.Router`); the
core's unit tests pass small fakes that implement just these.

Guarantees the core relies on:

ConversationStore
    ``append`` commits before it returns and assigns the conversation's next ``seq``; with a
    ``client_id`` already stored for the conversation it returns that event again with
    ``duplicate`` set and changes nothing (retries are answered, never applied twice);
    ``update`` is applied to the conversation record in the same transaction.
Router
    Every call is idempotent where the protocol says a retry is (``request`` for a
    conversation it already routes, ``accept`` of an offer the same agent accepted);
    failures are `routing.RoutingError` subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from chatserver.store.base import (
    ActorRole,
    AgentRecord,
    ConversationRecord,
    DecisionRecord,
    JSONObject,
    StoredEvent,
    VisitorRecord,
)
from chatserver.store.bots import BotRecord
from routing import AgentState, Assignment, ConversationRequest, Offer, RouteResult

__all__ = ["ConversationStore", "Router"]


class ConversationStore(Protocol):
    """The transcript store as the core uses it (a part of `TranscriptStore`)."""

    async def append(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        *,
        ts: str,
        actor_role: ActorRole,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> StoredEvent: ...

    async def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[StoredEvent]: ...

    async def get_agent_by_username(self, username: str) -> AgentRecord | None: ...

    async def add_visitor(self, visitor: VisitorRecord) -> None: ...

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None: ...

    async def get_visitor_by_token_hash(self, token_hash: str) -> VisitorRecord | None: ...

    async def update_visitor(self, visitor_id: str, **fields: Any) -> VisitorRecord: ...

    async def add_conversation(self, conversation: ConversationRecord) -> None: ...

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def list_conversations(
        self,
        *,
        visitor_id: str | None = None,
        agent_id: str | None = None,
        status: str | set[str] | frozenset[str] | None = None,
        limit: int | None = None,
    ) -> list[ConversationRecord]: ...

    async def list_user_conversations(
        self, site: str, external_id: str, *, limit: int | None = None
    ) -> list[ConversationRecord]: ...

    async def list_bots(self) -> list[BotRecord]: ...

    async def add_decision(
        self, conversation_id: str, ts: str, explanation: JSONObject
    ) -> DecisionRecord: ...


class Router(Protocol):
    """`routing.Router` as the core uses it."""

    async def request(self, req: ConversationRequest, now: float) -> RouteResult: ...

    async def position(self, conversation_id: str, now: float) -> tuple[int | None, int | None]: ...

    async def positions(
        self, conversation_ids: Sequence[str], now: float
    ) -> dict[str, tuple[int | None, int | None]]: ...

    async def conversation_state(self, conversation_id: str) -> str | None: ...

    async def upsert_agent(
        self, agent_id: str, skills: dict[str, int], capacity: int, now: float
    ) -> list[Offer]: ...

    async def agent(self, agent_id: str) -> AgentState | None: ...

    async def set_status(
        self, agent_id: str, status: Literal["online", "away", "offline"], now: float
    ) -> list[Offer]: ...

    async def restore_assignment(
        self, req: ConversationRequest, agent_id: str, now: float
    ) -> None: ...

    async def pending_offers(self, agent_id: str) -> list[Offer]: ...

    async def accept(self, offer_id: str, agent_id: str, now: float) -> Assignment: ...

    async def decline(self, offer_id: str, agent_id: str, now: float) -> list[Offer]: ...

    async def release(self, conversation_id: str, now: float) -> list[Offer]: ...

    async def cancel(self, conversation_id: str, now: float) -> list[Offer]: ...

    async def transfer(
        self,
        conversation_id: str,
        now: float,
        *,
        to_agent: str | None = None,
        to_topic: str | None = None,
    ) -> RouteResult: ...
