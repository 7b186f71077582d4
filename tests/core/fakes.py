"""Small in-memory stand-ins for what the core calls — the store, the router, the bus and the
sockets — implementing the interfaces of `chatserver.core.interfaces` (and `core.hub.Publisher`),
not patched-in mocks. `World` wires them to a real `Service` and `Hub`, as `HubContext` does."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import routing
from chatserver.core.delivery import Client
from chatserver.core.hub import Hub
from chatserver.core.service import Service
from chatserver.metrics import Metrics
from chatserver.settings import Settings
from chatserver.store.base import (
    ActorRole,
    AgentRecord,
    ConversationRecord,
    DecisionRecord,
    JSONObject,
    StoredEvent,
    VisitorRecord,
    iso_now,
)
from chatserver.store.bots import BotRecord

NODE = "node-test"
NOW = 1_800_000_000.0
TS = iso_now(NOW)


class FakeStore:
    """The transcript store in dictionaries: seq per conversation, client_id idempotency, the
    ``update`` applied with the event (the guarantees `TranscriptStore` documents)."""

    def __init__(self) -> None:
        self.visitors: dict[str, VisitorRecord] = {}
        self.conversations: dict[str, ConversationRecord] = {}
        self.log: dict[str, list[StoredEvent]] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.decisions: list[DecisionRecord] = []
        self.bots: list[BotRecord] = []

    # -- the interface -------------------------------------------------------------------
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
    ) -> StoredEvent:
        conv = self.conversations[conversation_id]
        events = self.log.setdefault(conversation_id, [])
        for old in events:
            if client_id is not None and old.client_id == client_id:
                return dataclasses.replace(old, duplicate=True)
        event = StoredEvent(
            conversation_id, conv.last_seq + 1, ts, kind, actor_role, actor_id, actor_name,
            client_id, dict(body),
        )  # fmt: skip
        events.append(event)
        changes = dict(update or {})
        if "tags" in changes:
            changes["tags"] = tuple(changes["tags"])
        self.conversations[conversation_id] = dataclasses.replace(
            conv, last_seq=event.seq, **changes
        )
        return event

    async def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[StoredEvent]:
        found = [
            e
            for e in self.log.get(conversation_id, [])
            if e.seq > after_seq and (kinds is None or e.kind in kinds)
        ]
        return found if limit is None else found[:limit]

    async def get_agent_by_username(self, username: str) -> AgentRecord | None:
        return next((a for a in self.agents.values() if a.username == username), None)

    async def add_visitor(self, visitor: VisitorRecord) -> None:
        self.visitors[visitor.id] = visitor

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None:
        return self.visitors.get(visitor_id)

    async def get_visitor_by_token_hash(self, token_hash: str) -> VisitorRecord | None:
        return next((v for v in self.visitors.values() if v.token_hash == token_hash), None)

    async def update_visitor(self, visitor_id: str, **fields: Any) -> VisitorRecord:
        visitor = self.visitors[visitor_id] = dataclasses.replace(
            self.visitors[visitor_id], **fields
        )
        return visitor

    async def add_conversation(self, conversation: ConversationRecord) -> None:
        self.conversations[conversation.id] = conversation

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        return self.conversations.get(conversation_id)

    async def list_conversations(
        self,
        *,
        visitor_id: str | None = None,
        agent_id: str | None = None,
        status: str | set[str] | frozenset[str] | None = None,
        limit: int | None = None,
    ) -> list[ConversationRecord]:
        wanted = {status} if isinstance(status, str) else status
        found = [
            c
            for c in self.conversations.values()
            if (visitor_id is None or c.visitor_id == visitor_id)
            and (agent_id is None or c.agent_id == agent_id)
            and (wanted is None or c.status in wanted)
        ]
        return found if limit is None else found[:limit]

    async def list_user_conversations(
        self, site: str, external_id: str, *, limit: int | None = None
    ) -> list[ConversationRecord]:
        theirs = {
            v.id
            for v in self.visitors.values()
            if v.site == site and v.external_id == external_id and v.verified
        }
        found = sorted(
            (c for c in self.conversations.values() if c.visitor_id in theirs),
            key=lambda c: (c.created_at, c.id),
        )
        return found if limit is None else found[len(found) - limit :]

    async def list_bots(self) -> list[BotRecord]:
        return sorted(self.bots, key=lambda b: b.name)

    async def add_decision(
        self, conversation_id: str, ts: str, explanation: JSONObject
    ) -> DecisionRecord:
        record = DecisionRecord(len(self.decisions) + 1, conversation_id, ts, explanation)
        self.decisions.append(record)
        return record

    # -- for the tests -------------------------------------------------------------------
    def kinds(self, conversation_id: str) -> list[str]:
        return [e.kind for e in self.log.get(conversation_id, [])]


class FakeRouter:
    """The router's answers, set by the test; every call is recorded in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.agents_online = 1
        self.position_of: dict[str, tuple[int | None, int | None]] = {}
        self.states: dict[str, str] = {}
        self.offers: dict[str, routing.Offer] = {}
        self.accepted: dict[str, routing.Assignment] = {}
        self.expired: set[str] = set()
        self.agent_states: dict[str, routing.AgentState] = {}
        self.unavailable: set[str] = set()  # agents a transfer cannot reach

    def offer(self, offer_id: str, conversation_id: str, agent_id: str, **meta: str) -> None:
        self.offers[offer_id] = routing.Offer(
            offer_id, conversation_id, agent_id, NOW + 20, "general", "en", NOW - 30, dict(meta)
        )

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]

    async def request(self, req: routing.ConversationRequest, now: float) -> routing.RouteResult:
        self.calls.append(("request", (req,)))
        self.states.setdefault(req.conversation_id, "waiting")
        position, eta = self.position_of.setdefault(req.conversation_id, (1, 60))
        return routing.RouteResult(
            req.conversation_id, "queued", position, eta, None, self.agents_online
        )

    async def position(self, conversation_id: str, now: float) -> tuple[int | None, int | None]:
        return self.position_of.get(conversation_id, (None, None))

    async def positions(
        self, conversation_ids: Sequence[str], now: float
    ) -> dict[str, tuple[int | None, int | None]]:
        return {cid: self.position_of.get(cid, (None, None)) for cid in conversation_ids}

    async def conversation_state(self, conversation_id: str) -> str | None:
        return self.states.get(conversation_id)

    async def upsert_agent(
        self, agent_id: str, skills: dict[str, int], capacity: int, now: float
    ) -> list[routing.Offer]:
        self.calls.append(("upsert_agent", (agent_id, skills, capacity)))
        return []

    async def agent(self, agent_id: str) -> routing.AgentState | None:
        return self.agent_states.get(agent_id)

    async def set_status(
        self, agent_id: str, status: Literal["online", "away", "offline"], now: float
    ) -> list[routing.Offer]:
        self.calls.append(("set_status", (agent_id, status)))
        return []

    async def restore_assignment(
        self, req: routing.ConversationRequest, agent_id: str, now: float
    ) -> None:
        self.calls.append(("restore_assignment", (req.conversation_id, agent_id)))

    async def pending_offers(self, agent_id: str) -> list[routing.Offer]:
        return [o for o in self.offers.values() if o.agent_id == agent_id]

    async def accept(self, offer_id: str, agent_id: str, now: float) -> routing.Assignment:
        self.calls.append(("accept", (offer_id, agent_id)))
        if offer_id in self.accepted:
            return self.accepted[offer_id]
        if offer_id in self.expired:
            raise routing.OfferExpired(f"offer {offer_id} expired 2.0 s ago")
        offer = self.offers.get(offer_id)
        if offer is None:
            raise routing.OfferNotFound(offer_id)
        if offer.agent_id != agent_id:
            raise routing.NotYourOffer(offer_id)
        del self.offers[offer_id]
        self.states[offer.conversation_id] = "active"
        assignment = routing.Assignment(offer.conversation_id, agent_id, offer_id, {"why": 1})
        self.accepted[offer_id] = assignment
        return assignment

    async def decline(self, offer_id: str, agent_id: str, now: float) -> list[routing.Offer]:
        self.calls.append(("decline", (offer_id, agent_id)))
        offer = self.offers.get(offer_id)
        if offer is None:
            raise routing.OfferNotFound(offer_id)
        if offer.agent_id != agent_id:
            raise routing.NotYourOffer(offer_id)
        del self.offers[offer_id]
        return []

    async def release(self, conversation_id: str, now: float) -> list[routing.Offer]:
        self.calls.append(("release", (conversation_id,)))
        self.states.pop(conversation_id, None)
        return []

    async def cancel(self, conversation_id: str, now: float) -> list[routing.Offer]:
        self.calls.append(("cancel", (conversation_id,)))
        if self.states.pop(conversation_id, None) is None:
            raise routing.UnknownConversation(conversation_id)
        return []

    async def transfer(
        self,
        conversation_id: str,
        now: float,
        *,
        to_agent: str | None = None,
        to_topic: str | None = None,
    ) -> routing.RouteResult:
        self.calls.append(("transfer", (conversation_id, to_agent, to_topic)))
        if to_agent in self.unavailable:
            raise routing.AgentUnavailable(f"agent {to_agent} has no room")
        self.states[conversation_id] = "waiting"
        return routing.RouteResult(conversation_id, "queued", 1, 30, None, 1)


class FakeBus:
    """The bus to other hub processes: what was published, and the interests registered."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.interests: set[str] = set()

    async def add_interest(self, conversation_id: str) -> None:
        self.interests.add(conversation_id)

    async def drop_interest(self, conversation_id: str) -> None:
        self.interests.discard(conversation_id)

    def publish(self, conversation_id: str, message: dict[str, Any]) -> None:
        self.published.append((conversation_id, message))

    def relayed(self) -> list[dict[str, Any]]:
        """The ephemeral frames sent to the other processes."""
        return [m["f"] for _c, m in self.published if m.get("k") == "x"]


async def _never(*_: Any) -> None:
    raise AssertionError("a fake socket is never written to")


class Socket(Client):
    """A connection whose frames are kept, parsed, instead of written to a socket."""

    def __init__(self, role: str) -> None:
        super().__init__(role, _never, _never, queue_frames=1000)
        self.frames: list[dict[str, Any]] = []

    def send(self, frame: str) -> bool:
        if not self.is_open:
            return False
        self.frames.append(json.loads(frame))
        return True

    def take(self) -> list[dict[str, Any]]:
        """The frames received since the last call."""
        frames, self.frames = self.frames, []
        return frames

    def types(self) -> list[str]:
        return [f["type"] for f in self.take()]


class World:
    """One hub process's core on fakes: a real `Service` and `Hub`, fake store, router, bus."""

    def __init__(self) -> None:
        self.store = FakeStore()
        self.router = FakeRouter()
        self.bus = FakeBus()
        self.metrics = Metrics()
        self.hub = Hub(self.store, self.metrics, gap_fill_delay_s=0.01)
        self.hub.bus = self.bus
        self.service = Service(
            Settings(node_id=NODE),
            self.store,
            self.router,
            self.hub,
            self.metrics,
            routing.default_config(),
        )
        self.service.core.now = lambda: NOW  # type: ignore[method-assign]
        self.hub.on_router_event = self.service.router_events.on_router_event

    async def visitor(self, name: str | None = None) -> Socket:
        """A visitor connected and stored (as after a hello with its token)."""
        socket = Socket("visitor")
        self.hub.add_client(socket)
        socket.visitor_id = visitor_id = f"v{len(self.store.visitors) + 1}"
        self.hub.identify(socket)
        await self.store.add_visitor(
            VisitorRecord(visitor_id, f"hash-{visitor_id}", "default", TS, name=name)
        )
        return socket

    def agent(self, username: str, roles: tuple[str, ...] = ("agent",)) -> Socket:
        """An agent's connection (one tab; call again with the same name for another)."""
        record = next(
            (a for a in self.store.agents.values() if a.username == username), None
        ) or AgentRecord(
            f"id-{username}", username, username.title(), "x", {"general": 5}, 3,
            roles, TS,  # type: ignore[arg-type]
        )  # fmt: skip
        self.store.agents[record.id] = record
        socket = Socket("agent")
        socket.agent = record
        self.hub.add_client(socket)
        self.hub.identify(socket)
        return socket

    async def handle(self, socket: Socket, command: Any) -> None:
        """What the socket adapter does with a parsed command (without its error frames)."""
        handler = self.service.handler(socket.role, type(command))
        assert handler is not None, f"{type(command).__name__} is not handled for {socket.role}"
        await handler(socket, command)
