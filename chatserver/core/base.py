"""What every part of the core shares: its dependencies, the clock, and the one way a change is
made — check who may do it, commit it to the transcript store (which assigns its ``seq``), tell
the router, then publish.

Handlers raise `chatserver.protocol.ProtocolError` subclasses; the socket adapter
(`chatserver.web.sockets`) turns them into ``error`` frames. Every frame a client receives is
built by `chatserver.protocol.frames`.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import routing
from chatserver import protocol as p
from chatserver.core.cache import ConversationCache
from chatserver.core.delivery import Client
from chatserver.core.hub import Hub
from chatserver.core.interfaces import ConversationStore, Router
from chatserver.core.queue_positions import QueuePositions
from chatserver.metrics import Metrics
from chatserver.settings import Settings
from chatserver.store.base import (
    ActorRole,
    AgentRecord,
    ConversationRecord,
    JSONObject,
    StoredEvent,
    iso_now,
)

log = logging.getLogger("chatserver.service")

CHAT_ROLES = frozenset({"agent", "supervisor", "admin"})
WATCH_ROLES = frozenset({"supervisor", "admin", "analyst"})


def new_id() -> str:
    return uuid.uuid4().hex


class Core:
    """The core's shared state and helpers; the command modules each hold one."""

    def __init__(
        self,
        settings: Settings,
        store: ConversationStore,
        router: Router,
        hub: Hub,
        metrics: Metrics,
        router_config: routing.RoutingConfig,
    ) -> None:
        #: Topics and languages in force (the hub context switches it when an admin edits them).
        self.router_config = router_config
        self.settings = settings
        self.store = store
        self.router = router
        self.hub = hub
        self.metrics = metrics
        #: The message path's conversation records, kept while this node follows them.
        self.cache = ConversationCache(store, hub.subscribed_here)
        hub.watcher = self.cache
        #: Asked before an accept: is the agent socket's session still live? (HubContext)
        self.session_alive: Callable[[Client], Awaitable[bool]] | None = None
        #: This process is draining before a restart: its agents stay away until they reconnect.
        self.draining = False
        #: Waiting visitors here, told their position on each tick (queue_positions).
        self.positions = QueuePositions(router, hub.visitors_of)
        #: Visitor connections verified on this socket as (site, the app's user id): they may
        #: open that user's conversations of any visitor record (`chatserver.core.identity`).
        self.verified_users: weakref.WeakKeyDictionary[Client, tuple[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    @staticmethod
    def now() -> float:
        return time.time()

    async def append(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        *,
        now: float,
        actor_role: str,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> StoredEvent:
        """Commit one event (and ``update`` to its conversation); publishes nothing."""
        started = time.perf_counter()
        event = await self.store.append(
            conversation_id,
            kind,
            body,
            ts=iso_now(now),
            actor_role=cast(ActorRole, actor_role),
            actor_id=actor_id,
            actor_name=actor_name,
            client_id=client_id,
            update=update,
        )
        self.metrics.store_commit.observe(time.perf_counter() - started)
        return event

    async def commit_and_publish(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        *,
        now: float,
        actor_role: str,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> StoredEvent:
        """`append`, then hand the event to every subscriber (unless it was stored before)."""
        event = await self.append(
            conversation_id,
            kind,
            body,
            now=now,
            actor_role=actor_role,
            actor_id=actor_id,
            actor_name=actor_name,
            client_id=client_id,
            update=update,
        )
        if not event.duplicate:
            self.hub.publish(event)
        return event

    # -- who may see what -------------------------------------------------------------------
    async def conversation(self, conversation_id: str) -> ConversationRecord:
        conv = await self.store.get_conversation(conversation_id)
        if conv is None:
            raise p.NotFound(f"no conversation {conversation_id!r}")
        return conv

    async def visitor_conversation(
        self, client: Client, conversation_id: str
    ) -> ConversationRecord:
        conv = await self.store.get_conversation(conversation_id)
        if conv is None or (
            conv.visitor_id != client.visitor_id and not await self._same_user(client, conv)
        ):
            # The same answer for "not yours" and "not there": a token opens only its own
            # (and, once verified on this socket, the same user's of the same site).
            raise p.NotFound(f"no conversation {conversation_id!r} for this visitor")
        return conv

    async def _same_user(self, client: Client, conv: ConversationRecord) -> bool:
        user = self.verified_users.get(client)
        if user is None:
            return False
        owner = await self.store.get_visitor(conv.visitor_id)
        return owner is not None and owner.verified and (owner.site, owner.external_id) == user

    async def agent_conversation(
        self, client: Client, conversation_id: str, *, watch: bool = False
    ) -> ConversationRecord:
        conv = await self.conversation(conversation_id)
        roles = set(agent_of(client).roles)
        if conv.agent_id == client.agent_id and conv.status == "active":
            return conv
        if watch and roles & WATCH_ROLES:
            return conv
        if conv.agent_id == client.agent_id and conv.status == "closed":
            return conv
        raise p.Forbidden(f"conversation {conversation_id!r} is not held by you")

    def require_chat_role(self, client: Client) -> AgentRecord:
        """The connection's agent, if its roles let it chat."""
        agent = agent_of(client)
        if not set(agent.roles) & CHAT_ROLES:
            raise p.Forbidden("analysts can read transcripts but not chat")
        return agent

    async def participant_conversation(
        self, client: Client, conversation_id: str
    ) -> ConversationRecord:
        """The conversation, if ``client`` takes part in it (its visitor, or the agent holding it)."""
        if client.role == "visitor":
            return await self.visitor_conversation(client, conversation_id)
        self.require_chat_role(client)
        return await self.agent_conversation(client, conversation_id)

    # -- the message path (both sides) ------------------------------------------------------
    async def post_message(
        self,
        client: Client,
        conv: ConversationRecord,
        cmd: p.Message,
        role: str,
        actor_id: str | None,
        name: str | None,
        received: float,
    ) -> None:
        """Store a checked message, ack it to its sender, then fan it out."""
        now = self.now()
        update = None
        if role == "agent" and conv.first_response_at is None:
            update = {"first_response_at": iso_now(now)}
        if not self.hub.is_subscribed(client, conv.id):
            await self.hub.subscribe(client, conv.id, conv.last_seq)
        event = await self.append(
            conv.id,
            "message",
            {"text": cmd.text},
            now=now,
            actor_role=role,
            actor_id=actor_id,
            actor_name=name,
            client_id=cmd.client_id,
            update=update,
        )
        client.send(p.frames.ack(cmd.ref, client_id=cmd.client_id, seq=event.seq, ts=event.ts))
        self.metrics.ack_latency.observe(time.perf_counter() - received)
        if not event.duplicate:
            self.hub.publish(event)

    @staticmethod
    def summaries(convs: list[ConversationRecord]) -> list[p.ConversationSummary]:
        return [p.ConversationSummary(c.id, c.status, c.last_seq) for c in convs]


def agent_of(client: Client) -> AgentRecord:
    """The agent a connection signed in as; refused for a connection that is not an agent's."""
    if client.agent is None:
        raise p.Forbidden("only a signed-in agent may do this")
    return client.agent
