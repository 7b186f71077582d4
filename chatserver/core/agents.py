"""What an agent's commands do: the hello's ``welcome``, ``status``, ``accept``, ``decline``,
``message``, ``note``, ``tag`` and ``transfer`` (``resume``, ``typing``, ``read`` and ``close``
are shared with visitors: `chatserver.core.conversations`).

Only agents whose roles let them chat (agent, supervisor, admin) may take, answer or change a
chat; an analyst's connection may read (``resume``) but nothing more.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import routing
from chatserver import protocol as p
from chatserver.clock import parse_ts
from chatserver.core.base import Core, agent_of
from chatserver.core.delivery import Client
from chatserver.core.recovery import Recovery
from chatserver.store.base import iso_now

log = logging.getLogger("chatserver.service")

TRANSFER_TEXT = "You are being transferred to another agent."


class AgentCommands:
    def __init__(self, core: Core, recovery: Recovery) -> None:
        self.core = core
        self.recovery = recovery

    async def welcome(self, client: Client, ref: str | None = None) -> None:
        """Send the signed-in agent its ``welcome`` (after registering it with the router), then
        its standing offers if it is online."""
        agent = agent_of(client)
        now = self.core.now()
        status = await self.recovery.register_agent(agent, now)
        held = await self.core.store.list_conversations(agent_id=agent.id, status={"active"})
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
                profile, self.core.summaries(held), status=cast(p.AgentStatus, status), ref=ref
            )
        )
        if status == "online":
            await self.recovery.resend_offers(agent.id)

    async def status(self, client: Client, cmd: p.Status) -> None:
        if cmd.status == "online":
            self.core.require_chat_role(client)
            if self.core.draining:  # this node's agents stay away (HubContext.begin_drain)
                raise p.Unavailable(
                    "this hub is restarting; you go online once your console has reconnected"
                )
        await self.core.router.set_status(client.agent_id or "", cmd.status, self.core.now())
        self.core.hub.set_agent_status(client.agent_id or "", cmd.status)
        client.send(p.frames.ack(cmd.ref, status=cmd.status))
        frame = p.frames.status(cmd.status)
        for peer in self.core.hub.agent_clients(client.agent_id or ""):
            peer.send(frame)

    async def accept(self, client: Client, cmd: p.Accept) -> None:
        agent = self.core.require_chat_role(client)
        if self.core.session_alive is not None and not await self.core.session_alive(client):
            # Revoked or disabled a moment ago: refused, and the socket closes (4401).
            raise p.Unauthorized("your session was ended; sign in again")
        now = self.core.now()
        try:
            assignment = await self.core.router.accept(cmd.offer_id, client.agent_id or "", now)
        except routing.OfferExpired as exc:
            self.core.metrics.offers.labels("late_accept").inc()
            raise p.Conflict(str(exc)) from None
        except routing.OfferNotFound:
            raise p.Conflict(
                f"offer {cmd.offer_id} is no longer open (taken, withdrawn or expired)"
            ) from None
        except routing.NotYourOffer:
            raise p.Forbidden(f"offer {cmd.offer_id} was made to another agent") from None
        self.core.metrics.offers.labels("accepted").inc()
        log.info(
            "conversation assigned",
            extra={"conversation_id": assignment.conversation_id, "agent_id": client.agent_id},
        )
        conv_id = assignment.conversation_id
        # Accepting is idempotent end to end, so the console may send an accept answered
        # `unavailable` again: the router answers an offer this agent accepted with the same
        # assignment, and the `assigned` event is stored once per offer (its client_id).
        event = await self.core.append(
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
            await self.core.store.add_decision(conv_id, iso_now(now), assignment.explanation)
        conv = await self.core.conversation(conv_id)
        if event.duplicate and (conv.status != "active" or conv.agent_id != agent.id):
            # Accepted long ago; the chat has since ended or moved to someone else.
            raise p.Conflict(f"offer {cmd.offer_id} was accepted earlier; that chat has moved on")
        client.held.add(conv_id)
        visitor = await self.core.store.get_visitor(conv.visitor_id)
        first = await self.core.store.events(conv_id, kinds=["message"], limit=1)
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
        await self.core.hub.subscribe(client, conv_id, 0, skip=[event.seq])
        if not event.duplicate:
            self.core.hub.publish(event)

    async def decline(self, client: Client, cmd: p.Decline) -> None:
        try:
            await self.core.router.decline(cmd.offer_id, client.agent_id or "", self.core.now())
        except (routing.OfferNotFound, routing.OfferExpired):
            raise p.Conflict(f"offer {cmd.offer_id} is no longer open") from None
        except routing.NotYourOffer:
            raise p.Forbidden(f"offer {cmd.offer_id} was made to another agent") from None
        self.core.metrics.offers.labels("declined").inc()
        client.send(p.frames.ack(cmd.ref, offer_id=cmd.offer_id))

    async def message(self, client: Client, cmd: p.Message) -> None:
        received = time.perf_counter()
        agent = self.core.require_chat_role(client)
        # The record is cached while this client is subscribed (no read).
        conv, _ = await self.core.cache.conversation(
            client, cmd.conversation_id, visitor_name=False
        )
        if conv is None or conv.agent_id != client.agent_id or conv.status != "active":
            conv = await self.core.agent_conversation(client, cmd.conversation_id)  # its errors
        if conv.status != "active":
            raise p.Conflict(f"conversation {conv.id} is {conv.status}")
        await self.core.post_message(
            client, conv, cmd, "agent", agent.id, agent.display_name, received
        )

    async def note(self, client: Client, cmd: p.Note) -> None:
        agent = self.core.require_chat_role(client)
        conv = await self.core.agent_conversation(client, cmd.conversation_id)
        event = await self.core.commit_and_publish(
            conv.id,
            "note",
            {"text": cmd.text},
            now=self.core.now(),
            actor_role="agent",
            actor_id=client.agent_id,
            actor_name=agent.display_name,
        )
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))

    async def tag(self, client: Client, cmd: p.Tag) -> None:
        agent = self.core.require_chat_role(client)
        conv = await self.core.agent_conversation(client, cmd.conversation_id)
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
        event = await self.core.commit_and_publish(
            conv.id,
            "tag",
            body,
            now=self.core.now(),
            actor_role="agent",
            actor_id=client.agent_id,
            actor_name=agent.display_name,
            update={"tags": tags},
        )
        client.send(
            p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts, tags=tags)
        )

    async def transfer(self, client: Client, cmd: p.Transfer) -> None:
        agent = self.core.require_chat_role(client)
        conv = await self.core.agent_conversation(client, cmd.conversation_id)
        if conv.status != "active":
            raise p.Conflict(
                f"conversation {conv.id} is {conv.status}; only active chats can be transferred"
            )
        now = self.core.now()
        to_agent_id = None
        if cmd.to_agent is not None:
            target = await self.core.store.get_agent_by_username(cmd.to_agent)
            if target is None or target.disabled:
                raise p.NotFound(f"no agent {cmd.to_agent!r}")
            if target.id == client.agent_id:
                raise p.Conflict("you already hold this conversation")
            to_agent_id = target.id
        elif cmd.to_topic is not None and cmd.to_topic not in self.core.router_config.topics:
            raise p.BadFrame(
                f"to_topic {cmd.to_topic!r} is not offered; allowed: {', '.join(self.core.router_config.topics)}"
            )
        try:
            result = await self.core.router.transfer(
                conv.id, now, to_agent=to_agent_id, to_topic=cmd.to_topic
            )
        except routing.AgentUnavailable as exc:
            raise p.Conflict(str(exc)) from None
        update: dict[str, Any] = {"status": "queued", "agent_id": None}
        if cmd.to_topic is not None:
            update["topic"] = cmd.to_topic
        event = await self.core.commit_and_publish(
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
            actor_name=agent.display_name,
            update=update,
        )
        client.send(p.frames.ack(cmd.ref, conversation_id=conv.id, seq=event.seq, ts=event.ts))
        # The chat has left this agent: its tabs here stop receiving it.
        for peer in self.core.hub.agent_clients(client.agent_id or ""):
            peer.held.discard(conv.id)
            await self.core.hub.unsubscribe(peer, conv.id)
