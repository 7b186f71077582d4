"""The conversation service: what each command does to the store, the router and the hub.

Every change follows one path: check who may do it, commit it to the transcript store (which
assigns its `seq`), tell the router, then publish. An `ack` is queued only after the commit.
Handlers raise `ProtocolError` subclasses; the endpoint turns them into `error` frames.
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, cast

import routing
from chatserver import protocol as p
from chatserver.auth import new_token, token_hash
from chatserver.clock import parse_ts
from chatserver.coalesce import Coalescer, highest_seq
from chatserver.delivery import Client
from chatserver.hub import Hub
from chatserver.metrics import Metrics
from chatserver.queue_positions import QueuePositions
from chatserver.settings import Settings
from chatserver.store.base import (
    ActorRole,
    ConversationRecord,
    StoredEvent,
    TranscriptStore,
    VisitorRecord,
    iso_now,
)

log = logging.getLogger("chatserver.service")

CHAT_ROLES = frozenset({"agent", "supervisor", "admin"})
WATCH_ROLES = frozenset({"supervisor", "admin", "analyst"})
REQUEUE_TEXT = "Your agent was disconnected. You are back in the queue."
TRANSFER_TEXT = "You are being transferred to another agent."


class NewVisitor:
    __slots__ = ("id", "token")

    def __init__(self, visitor_id: str, token: str) -> None:
        self.id = visitor_id
        self.token = token


def new_id() -> str:
    return uuid.uuid4().hex


class Service:
    def __init__(
        self,
        settings: Settings,
        store: TranscriptStore,
        router: routing.Router,
        hub: Hub,
        metrics: Metrics,
        router_config: routing.RoutingConfig,
    ) -> None:
        self.router_config = router_config
        self.settings = settings
        self.store = store
        self.router = router
        self.hub = hub
        self.metrics = metrics
        #: Asked before an accept: is the agent socket's session still live? (HubContext)
        self.session_alive: Callable[[Client], Awaitable[bool]] | None = None
        #: typing and read, relayed at most once per interval per conversation and side.
        self.ephemeral = Coalescer(self._relay_ephemeral)
        #: Waiting visitors here, told their position on each tick (queue_positions).
        self.positions = QueuePositions(router, self.visitors_of)
        #: New visitors not stored yet, by their connection (`new_visitor`).
        self._unsaved: weakref.WeakKeyDictionary[Client, VisitorRecord] = (
            weakref.WeakKeyDictionary()
        )

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def now() -> float:
        return time.time()

    def visitors_of(self, conversation_id: str) -> list[Client]:
        """The visitor sockets of a conversation on this hub."""
        return [c for c in self.hub.by_conversation.get(conversation_id, ()) if c.role == "visitor"]

    async def append(
        self,
        conversation_id: str,
        kind: str,
        body: dict[str, Any],
        *,
        now: float,
        actor_role: str,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: dict[str, Any] | None = None,
    ) -> StoredEvent:
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

    async def commit_and_publish(self, *args: Any, **kwargs: Any) -> StoredEvent:
        event = await self.append(*args, **kwargs)
        if not event.duplicate:
            self.hub.publish(event)
        return event

    async def conversation(self, conversation_id: str) -> ConversationRecord:
        conv = await self.store.get_conversation(conversation_id)
        if conv is None:
            raise p.NotFound(f"no conversation {conversation_id!r}")
        return conv

    async def visitor_conversation(
        self, client: Client, conversation_id: str
    ) -> ConversationRecord:
        conv = await self.store.get_conversation(conversation_id)
        if conv is None or conv.visitor_id != client.visitor_id:
            # The same answer for "not yours" and "not there": a token opens only its own.
            raise p.NotFound(f"no conversation {conversation_id!r} for this visitor")
        return conv

    async def agent_conversation(
        self, client: Client, conversation_id: str, *, watch: bool = False
    ) -> ConversationRecord:
        conv = await self.conversation(conversation_id)
        roles = set(client.agent.roles)
        if conv.agent_id == client.agent_id and conv.status == "active":
            return conv
        if watch and roles & WATCH_ROLES:
            return conv
        if conv.agent_id == client.agent_id and conv.status == "closed":
            return conv
        raise p.Forbidden(f"conversation {conversation_id!r} is not held by you")

    def require_chat_role(self, client: Client) -> None:
        if not set(client.agent.roles) & CHAT_ROLES:
            raise p.Forbidden("analysts can read transcripts but not chat")

    # -- visitor ----------------------------------------------------------------------------
    @staticmethod
    def summaries(convs: list[ConversationRecord]) -> list[p.ConversationSummary]:
        return [p.ConversationSummary(c.id, c.status, c.last_seq) for c in convs]

    async def start(self, client: Client, cmd: p.Start) -> None:
        assert client.visitor_id is not None
        now = self.now()
        # The connection's parser checked topic and language against the configuration of
        # its time; an admin may have removed either since. Check again before saving
        # anything, or the conversation would be stored and then refused by the router.
        config = self.router_config
        if cmd.topic not in config.topics:
            raise p.BadFrame(
                f"topic {cmd.topic!r} is not offered; allowed: {', '.join(config.topics)}"
            )
        if cmd.language not in config.languages:
            raise p.BadFrame(
                f"language {cmd.language!r} is not offered; allowed: {', '.join(config.languages)}"
            )
        retried: ConversationRecord | None = None
        for open_conv in await self.store.list_conversations(
            visitor_id=client.visitor_id, status={"queued", "offered", "active"}
        ):
            if (open_conv.status, open_conv.topic, open_conv.language) == (
                "queued",
                cmd.topic,
                cmd.language,
            ):
                # The same start again: most likely a retry after `unavailable` (stored, not
                # yet routed). Finish it rather than refuse: the answer is that conversation.
                retried = open_conv
                continue
            raise p.Conflict(
                f"conversation {open_conv.id} is still open; resume it or close it first",
            )
        await self._keep_visitor(client)
        visitor = await self.store.get_visitor(client.visitor_id)
        name = cmd.name or (visitor.name if visitor else None)
        email = cmd.email or (visitor.email if visitor else None)
        if visitor is not None and (cmd.name or cmd.email):
            await self.store.update_visitor(visitor.id, name=name, email=email)
        previous = [
            c
            for c in await self.store.list_conversations(visitor_id=client.visitor_id)
            if retried is None or c.id != retried.id
        ]
        preferred = previous[-1].last_agent_id if previous else None
        conv_id = retried.id if retried is not None else new_id()
        if retried is None:
            topic_cfg = config.topics[cmd.topic]
            await self.store.add_conversation(
                ConversationRecord(
                    id=conv_id,
                    visitor_id=client.visitor_id,
                    site=visitor.site if visitor else self.settings.default_site,
                    topic=cmd.topic,
                    language=cmd.language,
                    status="queued",
                    priority=topic_cfg.priority,
                    created_at=iso_now(now),
                    page_url=cmd.page_url,
                )
            )
            self.metrics.conversations.labels(cmd.topic).inc()
            log.info(
                "conversation started",
                extra={"conversation_id": conv_id, "topic": cmd.topic, "language": cmd.language},
            )
        await self.append(
            conv_id,
            "start",
            {
                "topic": cmd.topic,
                "language": cmd.language,
                "name": name,
                "email": email,
                "page_url": cmd.page_url,
            },
            now=now,
            actor_role="visitor",
            actor_id=client.visitor_id,
            actor_name=name,
            client_id=f"opened-{conv_id}",  # stored once, however often the start is retried
        )
        if cmd.text:
            await self.append(
                conv_id,
                "message",
                {"text": cmd.text},
                now=now,
                actor_role="visitor",
                actor_id=client.visitor_id,
                actor_name=name,
                client_id=f"start-{conv_id}",
            )
        result = await self.router.request(
            routing.ConversationRequest(
                conversation_id=conv_id,
                topic=cmd.topic,
                language=cmd.language,
                preferred_agent=preferred,
                meta={
                    "visitor_name": name or "",
                    "preview": (cmd.text or "")[:200],
                    "page_url": cmd.page_url or "",
                },
            ),
            now,
        )
        position = result.position if result.position is not None else 0
        client.send(p.frames.queued(conv_id, position, result.eta_s, ref=cmd.ref))
        if result.agents_online == 0:
            client.send(p.frames.offline(conv_id, topic=cmd.topic, language=cmd.language))
        await self.hub.subscribe(client, conv_id, 0)
        if result.status == "queued":
            self.positions.follow(conv_id, result.position, result.eta_s)

    async def visitor_message(self, client: Client, cmd: p.Message) -> None:
        received = time.perf_counter()
        # The hub caches the record and the name while this client is subscribed (no reads).
        found, name = await self.hub.message_conversation(
            client, cmd.conversation_id, visitor_name=True
        )
        conv = found if found is not None and found.visitor_id == client.visitor_id else None
        if conv is None:  # not there or not theirs: the usual answer (or a record made since)
            conv = await self.visitor_conversation(client, cmd.conversation_id)
            visitor = await self.store.get_visitor(conv.visitor_id)
            name = visitor.name if visitor else None
        if conv.status == "closed":
            raise p.Conflict(f"conversation {conv.id} is closed")
        await self._message(client, conv, cmd, "visitor", client.visitor_id, name, received)

    async def _message(
        self,
        client: Client,
        conv: ConversationRecord,
        cmd: p.Message,
        role: str,
        actor_id: str | None,
        name: str | None,
        received: float,
    ) -> None:
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

    async def resume(self, client: Client, cmd: p.Resume) -> None:
        if client.role == "visitor":
            conv = await self.visitor_conversation(client, cmd.conversation_id)
        else:
            conv = await self.agent_conversation(client, cmd.conversation_id, watch=True)
            if conv.agent_id == client.agent_id and conv.status == "active":
                client.held.add(conv.id)
        if cmd.last_seq > conv.last_seq:
            raise p.BadFrame(
                f"last_seq {cmd.last_seq} is ahead of conversation {conv.id}, which is at {conv.last_seq}"
            )
        last = await self.hub.subscribe(client, conv.id, cmd.last_seq)
        client.send(p.frames.resumed(conv.id, last, ref=cmd.ref))
        if client.role == "visitor" and conv.status in ("queued", "offered"):
            position, eta = await self.router.position(conv.id, self.now())
            if position is None and await self.router.conversation_state(conv.id) is None:
                # Stored but unknown to the router: its start was answered `unavailable` after
                # the store had it. Route it now (request is idempotent).
                await self.requeue(conv, self.now())
                position, eta = await self.router.position(conv.id, self.now())
            if position is not None:
                client.send(p.frames.queue(conv.id, position, eta))
                self.positions.follow(conv.id, position, eta)

    def _relay_ephemeral(self, key: Hashable, frame: dict[str, Any]) -> None:
        conversation_id, role, _kind = cast(tuple[str, str, str], key)
        self.hub.relay(conversation_id, frame, from_role=role)

    async def typing(self, client: Client, cmd: p.Typing) -> None:
        await self._check_participant(client, cmd.conversation_id)
        self.ephemeral.offer(
            (cmd.conversation_id, client.role, "typing"),
            p.frames.typing_object(cmd.conversation_id, cmd.active, by_role=client.role),
        )

    async def read(self, client: Client, cmd: p.Read) -> None:
        conv = await self._check_participant(client, cmd.conversation_id)
        if cmd.seq > conv.last_seq:
            raise p.BadFrame(
                f"seq {cmd.seq} is ahead of conversation {conv.id}, which is at {conv.last_seq}"
            )
        self.ephemeral.offer(
            (cmd.conversation_id, client.role, "read"),
            p.frames.read_object(cmd.conversation_id, cmd.seq, by_role=client.role),
            highest_seq,
        )

    async def _check_participant(self, client: Client, conversation_id: str) -> ConversationRecord:
        if client.role == "visitor":
            return await self.visitor_conversation(client, conversation_id)
        self.require_chat_role(client)
        return await self.agent_conversation(client, conversation_id)

    async def close(self, client: Client, cmd: p.Close) -> None:
        now = self.now()
        if client.role == "visitor":
            conv = await self.visitor_conversation(client, cmd.conversation_id)
            actor_id, name = client.visitor_id, None
        else:
            self.require_chat_role(client)
            conv = await self.agent_conversation(client, cmd.conversation_id)
            actor_id, name = client.agent_id, client.agent.display_name
        if conv.status == "closed":
            # Closing twice is answered like the first time: a retry must not look like a failure.
            closed = await self.store.events(conv.id, kinds=["closed"], limit=1)
            if closed:
                client.send(
                    p.frames.ack(
                        cmd.ref, conversation_id=conv.id, seq=closed[0].seq, ts=closed[0].ts
                    )
                )
                return
            raise p.Conflict(f"conversation {conv.id} is already closed")
        was = conv.status
        log.info("conversation closed", extra={"conversation_id": conv.id, "by": client.role})
        event = await self.commit_and_publish(
            conv.id,
            "closed",
            {"by": client.role},
            now=now,
            actor_role=client.role,
            actor_id=actor_id,
            actor_name=name,
            update={
                "status": "closed",
                "closed_at": iso_now(now),
                "closed_by": client.role,
                "agent_id": None,
            },
        )
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))
        if not self.hub.is_subscribed(client, conv.id):
            client.send(
                p.frames.closed(
                    conv.id, by=cast(p.ClosedBy, client.role), seq=event.seq, ts=event.ts
                )
            )
        await self.finish_routing(conv.id, was, now)

    async def finish_routing(self, conversation_id: str, was: str, now: float) -> None:
        try:
            if was == "active":
                await self.router.release(conversation_id, now)
            else:
                await self.router.cancel(conversation_id, now)
        except routing.UnknownConversation:
            log.info(
                "router did not know the conversation", extra={"conversation_id": conversation_id}
            )

    async def rate(self, client: Client, cmd: p.Rate) -> None:
        conv = await self.visitor_conversation(client, cmd.conversation_id)
        if conv.status != "closed":
            raise p.Conflict(f"conversation {conv.id} is not closed yet; rate it once it ends")
        if conv.rating is not None:
            raise p.Conflict(f"conversation {conv.id} was already rated")
        event = await self.commit_and_publish(
            conv.id,
            "rating",
            {"score": cmd.score, "comment": cmd.comment},
            now=self.now(),
            actor_role="visitor",
            actor_id=client.visitor_id,
            client_id=f"rating-{conv.id}",
            update={"rating": cmd.score, "rating_comment": cmd.comment},
        )
        if event.duplicate:
            raise p.Conflict(f"conversation {conv.id} was already rated")
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))

    def new_visitor(self, client: Client, site: str, now: float) -> NewVisitor:
        """A visitor token for ``client``'s connection. Nothing is stored yet: the visitor
        becomes durable with its first conversation or left message (`_keep_visitor`), so a
        flood of anonymous hellos stores nothing. A token never kept opens nothing later (the
        widget then starts over as a new visitor, having had nothing to lose)."""
        token = new_token()
        visitor_id = new_id()
        self._unsaved[client] = VisitorRecord(
            id=visitor_id, token_hash=token_hash(token), site=site, created_at=iso_now(now)
        )
        return NewVisitor(visitor_id, token)

    async def _keep_visitor(self, client: Client) -> None:
        """Store the connection's visitor, if it is new: it is about to own something."""
        record = self._unsaved.pop(client, None)
        if record is not None:
            await self.store.add_visitor(record)

    async def leave_message(self, client: Client, cmd: p.LeaveMessage) -> None:
        """The widget's leave-a-message form, after `offline`: the message (and the e-mail to
        answer to) joins the waiting conversation, which stays queued for the next agent who
        comes online; the visitor may leave meanwhile. Without a conversation_id it starts one."""
        assert client.visitor_id is not None
        await self._keep_visitor(client)
        await self.store.update_visitor(
            client.visitor_id, email=cmd.email, **({"name": cmd.name} if cmd.name else {})
        )
        if cmd.conversation_id is not None:
            conv = await self.visitor_conversation(client, cmd.conversation_id)
            if conv.status == "closed":
                raise p.Conflict(f"conversation {conv.id} is closed")
            event = await self.commit_and_publish(
                conv.id,
                "message",
                {"text": cmd.text, "left_message": True, "email": cmd.email},
                now=self.now(),
                actor_role="visitor",
                actor_id=client.visitor_id,
                actor_name=cmd.name,
                client_id=f"leave-{conv.id}",
            )
            client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))
            return
        await self.start(
            client,
            p.Start(
                topic=cmd.topic,
                language=cmd.language,
                name=cmd.name,
                email=cmd.email,
                text=cmd.text,
                page_url=None,
                ref=cmd.ref,
            ),
        )

    # -- agent ------------------------------------------------------------------------------
    async def register_agent(self, agent: Any, now: float, *, status: str | None = None) -> str:
        """Make the router's view of an agent match the store: skills, capacity, the chats it
        holds (after Redis lost its data they are restored, not routed again) and a status.
        Returns the status in force."""
        await self.router.upsert_agent(agent.id, dict(agent.skills), agent.capacity, now)
        state = await self.router.agent(agent.id)
        held = await self.store.list_conversations(agent_id=agent.id, status={"active"})
        known = set(state.active) if state is not None else set()
        for conv in held:
            if conv.id not in known:
                await self.router.restore_assignment(self.request_for(conv), agent.id, now)
        current = state.status if state is not None else "offline"
        wanted = status or ("away" if current == "offline" else current)
        if wanted != current or state is None:
            await self.router.set_status(agent.id, wanted, now)  # type: ignore[arg-type]
        self.hub.agent_status[agent.id] = wanted
        return wanted

    def request_for(
        self, conv: ConversationRecord, preview: str = ""
    ) -> routing.ConversationRequest:
        return routing.ConversationRequest(
            conversation_id=conv.id,
            topic=conv.topic,
            language=conv.language,
            priority=conv.priority,
            meta={"visitor_name": "", "preview": preview, "page_url": conv.page_url or ""},
        )

    async def requeue(self, conv: ConversationRecord, now: float) -> None:
        """Put a waiting conversation back in the router's queue (after Redis lost it)."""
        visitor = await self.store.get_visitor(conv.visitor_id)
        request = self.request_for(conv)
        if visitor is not None and visitor.name:
            request.meta["visitor_name"] = visitor.name
        await self.router.request(request, now)

    async def welcome_agent(self, client: Client, ref: str | None = None) -> None:
        agent = client.agent
        now = self.now()
        status = await self.register_agent(agent, now)
        held = await self.store.list_conversations(agent_id=agent.id, status={"active"})
        client.held.update(c.id for c in held)
        profile = p.AgentProfile(
            agent.id,
            agent.username,
            agent.display_name,
            dict(agent.skills),
            agent.capacity,
            list(agent.roles),
        )
        client.send(
            p.frames.welcome_agent(
                profile, self.summaries(held), status=cast(p.AgentStatus, status), ref=ref
            )
        )
        if status == "online":
            await self.resend_offers(agent.id)

    async def resend_offers(self, agent_id: str) -> None:
        """Show an agent's standing offers again. Offers are state in Redis, but the `offered`
        event travels over pub/sub, which drops messages while a node is reconnecting; an agent
        reconnecting to another node would miss them too. Consoles ignore an offer_id twice."""
        clients = list(self.hub.agents.get(agent_id, ()))
        if not clients:
            return
        now = self.now()
        for offer in await self.router.pending_offers(agent_id):
            frame = offer_frame(offer, now)
            for client in clients:
                client.send(frame)

    async def status(self, client: Client, cmd: p.Status) -> None:
        if cmd.status == "online":
            self.require_chat_role(client)
        await self.router.set_status(client.agent_id or "", cmd.status, self.now())
        self.hub.agent_status[client.agent_id or ""] = cmd.status
        client.send(p.frames.ack(cmd.ref, status=cmd.status))
        frame = p.frames.status(cmd.status)
        for peer in list(self.hub.agents.get(client.agent_id or "", ())):
            peer.send(frame)

    async def accept(self, client: Client, cmd: p.Accept) -> None:
        self.require_chat_role(client)
        if self.session_alive is not None and not await self.session_alive(client):
            # Revoked or disabled a moment ago: refused, and the socket closes (4401).
            raise p.Unauthorized("your session was ended; sign in again")
        now = self.now()
        try:
            assignment = await self.router.accept(cmd.offer_id, client.agent_id or "", now)
        except routing.OfferExpired as exc:
            self.metrics.offers.labels("late_accept").inc()
            raise p.Conflict(str(exc)) from None
        except routing.OfferNotFound:
            raise p.Conflict(
                f"offer {cmd.offer_id} is no longer open (taken, withdrawn or expired)"
            ) from None
        except routing.NotYourOffer:
            raise p.Forbidden(f"offer {cmd.offer_id} was made to another agent") from None
        self.metrics.offers.labels("accepted").inc()
        log.info(
            "conversation assigned",
            extra={"conversation_id": assignment.conversation_id, "agent_id": client.agent_id},
        )
        agent = client.agent
        conv_id = assignment.conversation_id
        # Accepting is idempotent end to end, so the console may send an accept answered
        # `unavailable` again: the router answers an offer this agent accepted with the same
        # assignment, and the `assigned` event is stored once per offer (its client_id).
        event = await self.append(
            conv_id,
            "assigned",
            {
                "agent_id": agent.id,
                "username": agent.username,
                "display_name": agent.display_name,
                "offer_id": cmd.offer_id,
            },
            now=now,
            actor_role="system",
            client_id=f"assigned-{cmd.offer_id}",
            update={
                "status": "active",
                "agent_id": agent.id,
                "last_agent_id": agent.id,
                "assigned_at": iso_now(now),
            },
        )
        if not event.duplicate:
            await self.store.add_decision(conv_id, iso_now(now), assignment.explanation)
        conv = await self.conversation(conv_id)
        if event.duplicate and (conv.status != "active" or conv.agent_id != agent.id):
            # Accepted long ago; the chat has since ended or moved to someone else.
            raise p.Conflict(f"offer {cmd.offer_id} was accepted earlier; that chat has moved on")
        client.held.add(conv_id)
        visitor = await self.store.get_visitor(conv.visitor_id)
        first = await self.store.events(conv_id, kinds=["message"], limit=1)
        brief = p.ConversationBrief(
            conversation_id=conv_id,
            topic=conv.topic,
            language=conv.language,
            visitor_name=visitor.name if visitor else None,
            waited_s=max(0, round(now - parse_ts(conv.created_at))),
            preview=str(first[0].body.get("text", ""))[:200] if first else None,
        )
        client.send(
            p.frames.assigned(
                conv_id,
                agent.display_name,
                seq=event.seq,
                ts=event.ts,
                conversation=brief,
                ref=cmd.ref,
            )
        )
        await self.hub.subscribe(client, conv_id, 0, skip=[event.seq])
        if not event.duplicate:
            self.hub.publish(event)

    async def decline(self, client: Client, cmd: p.Decline) -> None:
        try:
            await self.router.decline(cmd.offer_id, client.agent_id or "", self.now())
        except (routing.OfferNotFound, routing.OfferExpired):
            raise p.Conflict(f"offer {cmd.offer_id} is no longer open") from None
        except routing.NotYourOffer:
            raise p.Forbidden(f"offer {cmd.offer_id} was made to another agent") from None
        self.metrics.offers.labels("declined").inc()
        client.send(p.frames.ack(cmd.ref, offer_id=cmd.offer_id))

    async def agent_message(self, client: Client, cmd: p.Message) -> None:
        received = time.perf_counter()
        self.require_chat_role(client)
        conv, _ = await self.hub.message_conversation(
            client, cmd.conversation_id, visitor_name=False
        )
        if conv is None or conv.agent_id != client.agent_id or conv.status != "active":
            conv = await self.agent_conversation(client, cmd.conversation_id)  # its errors
        if conv.status != "active":
            raise p.Conflict(f"conversation {conv.id} is {conv.status}")
        await self._message(
            client, conv, cmd, "agent", client.agent_id, client.agent.display_name, received
        )

    async def note(self, client: Client, cmd: p.Note) -> None:
        self.require_chat_role(client)
        conv = await self.agent_conversation(client, cmd.conversation_id)
        event = await self.commit_and_publish(
            conv.id,
            "note",
            {"text": cmd.text},
            now=self.now(),
            actor_role="agent",
            actor_id=client.agent_id,
            actor_name=client.agent.display_name,
        )
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))

    async def tag(self, client: Client, cmd: p.Tag) -> None:
        self.require_chat_role(client)
        conv = await self.agent_conversation(client, cmd.conversation_id)
        unknown = [t for t in cmd.remove if t not in conv.tags]
        if unknown:
            has = ", ".join(conv.tags) if conv.tags else "none"
            raise p.NotFound(
                f"conversation {conv.id} has no tag {unknown[0]!r} to remove (its tags: {has})"
            )
        tags = sorted((set(conv.tags) | set(cmd.tags)) - set(cmd.remove))
        body: dict[str, Any] = {"tags": list(cmd.tags), "all": tags}
        if cmd.remove:
            body["removed"] = list(cmd.remove)
        event = await self.commit_and_publish(
            conv.id,
            "tag",
            body,
            now=self.now(),
            actor_role="agent",
            actor_id=client.agent_id,
            actor_name=client.agent.display_name,
            update={"tags": tags},
        )
        client.send(
            p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts, tags=tags)
        )

    async def transfer(self, client: Client, cmd: p.Transfer) -> None:
        self.require_chat_role(client)
        conv = await self.agent_conversation(client, cmd.conversation_id)
        if conv.status != "active":
            raise p.Conflict(
                f"conversation {conv.id} is {conv.status}; only active chats can be transferred"
            )
        now = self.now()
        to_agent_id = None
        if cmd.to_agent is not None:
            target = await self.store.get_agent_by_username(cmd.to_agent)
            if target is None or target.disabled:
                raise p.NotFound(f"no agent {cmd.to_agent!r}")
            if target.id == client.agent_id:
                raise p.Conflict("you already hold this conversation")
            to_agent_id = target.id
        elif cmd.to_topic is not None and cmd.to_topic not in self.router_config.topics:
            raise p.BadFrame(
                f"to_topic {cmd.to_topic!r} is not offered; allowed: {', '.join(self.router_config.topics)}"
            )
        try:
            result = await self.router.transfer(
                conv.id, now, to_agent=to_agent_id, to_topic=cmd.to_topic
            )
        except routing.AgentUnavailable as exc:
            raise p.Conflict(str(exc)) from None
        update: dict[str, Any] = {"status": "queued", "agent_id": None}
        if cmd.to_topic is not None:
            update["topic"] = cmd.to_topic
        event = await self.commit_and_publish(
            conv.id,
            "transfer",
            {
                "text": TRANSFER_TEXT,
                "from_agent": client.agent_id,
                "to_agent": cmd.to_agent,
                "to_topic": cmd.to_topic,
                "position": result.position,
            },
            now=now,
            actor_role="agent",
            actor_id=client.agent_id,
            actor_name=client.agent.display_name,
            update=update,
        )
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))
        # The chat has left this agent: its tabs here stop receiving it.
        for peer in list(self.hub.agents.get(client.agent_id or "", ())):
            peer.held.discard(conv.id)
            await self.hub.unsubscribe(peer, conv.id)

    # -- router events ----------------------------------------------------------------------
    def on_router_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        node = self.settings.node_id
        if kind == "offered" and event.get("node") == node:
            self.metrics.offers.labels("made").inc()
            frame = offer_frame_from_event(event, self.now())
            for client in list(self.hub.agents.get(event["agent_id"], ())):
                client.send(frame)
        elif kind == "offer_withdrawn":
            if event.get("reason") != "cancelled" and self.visitors_of(event["conversation_id"]):
                # Back in the queue (declined, expired, agent gone): follow it again.
                self.positions.follow(event["conversation_id"])
            if event.get("node") != node:
                return
            self.metrics.offers.labels(event.get("reason", "withdrawn")).inc()
            frame = p.frames.offer_withdrawn(
                event["offer_id"], event["conversation_id"], reason=event.get("reason")
            )
            for client in list(self.hub.agents.get(event["agent_id"], ())):
                client.send(frame)
        elif kind == "requeued":
            if self.visitors_of(event["conversation_id"]):
                self.positions.follow(event["conversation_id"])
        elif kind == "queue":
            # A new first of its queue: told at once, not at the next tick.
            cid = event["conversation_id"]
            frame = p.frames.queue(cid, event["position"], event.get("eta_s"))
            visitors = self.visitors_of(cid)
            for client in visitors:
                client.send(frame)
            if visitors:
                self.positions.follow(cid, event["position"], event.get("eta_s"))
        elif kind == "presence":
            if not event.get("reason"):
                return
            frame = p.frames.status(
                event["status"],
                reason=event.get("reason", "missed offers") if event.get("auto") else None,
            )
            for client in list(self.hub.agents.get(event["agent_id"], ())):
                client.send(frame)

    async def on_tick(self, result: routing.TickResult, now: float) -> None:
        for conversation_id in result.requeued:
            conv = await self.store.get_conversation(conversation_id)
            if conv is None or conv.status == "closed":
                continue
            await self.commit_and_publish(
                conversation_id,
                "requeued",
                {"text": REQUEUE_TEXT, "agent_id": conv.agent_id, "reason": "agent_offline"},
                now=now,
                actor_role="system",
                update={"status": "queued", "agent_id": None},
            )


def offer_frame(offer: routing.Offer, now: float) -> str:
    """``offer`` for one of the router's standing offers."""
    brief = p.ConversationBrief(
        conversation_id=offer.conversation_id,
        topic=offer.topic,
        language=offer.language,
        visitor_name=offer.meta.get("visitor_name") or None,
        waited_s=max(0, round(now - offer.arrived_at)),
        preview=offer.meta.get("preview") or None,
        page_url=offer.meta.get("page_url") or None,
    )
    return p.frames.offer(offer.offer_id, brief, max(0, round(offer.deadline - now)))


def offer_frame_from_event(event: dict[str, Any], now: float) -> str:
    """``offer`` for the router's ``offered`` event."""
    meta = event.get("meta") or {}
    brief = p.ConversationBrief(
        conversation_id=event["conversation_id"],
        topic=event["topic"],
        language=event["language"],
        visitor_name=meta.get("visitor_name") or None,
        waited_s=max(0, round(now - float(event.get("arrived_at", now)))),
        preview=meta.get("preview") or None,
        page_url=meta.get("page_url") or None,
    )
    expires_in_s = max(0, round(float(event.get("deadline", now)) - now))
    return p.frames.offer(event["offer_id"], brief, expires_in_s)
