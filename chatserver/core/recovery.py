"""Putting live state back: what Redis (the router) or pub/sub lost is rebuilt from the store
and from this node's connections.

- An agent's hello, and a resync after Redis lost its data, make the router's view of the agent
  match the store (`register_agent`): skills, capacity, the chats it holds (restored, not
  routed again) and its status.
- Waiting conversations the router does not know are routed again (`requeue`,
  `requeue_waiting`): a start answered ``unavailable`` after the store had it, or everything
  after Redis was flushed.
- Offers are state in Redis but travel as pub/sub events, which are lost while a node
  reconnects: `resend_offers` shows an agent its standing offers again.
- A chat whose agent stayed away past the grace period goes back to the queue with a system
  message (`on_tick`).
"""

from __future__ import annotations

import logging
from typing import Literal, cast

import routing
from chatserver.core.base import Core
from chatserver.core.router_events import offer_frame
from chatserver.store.base import AgentRecord, ConversationRecord

log = logging.getLogger("chatserver.recovery")

REQUEUE_TEXT = "Your agent was disconnected. You are back in the queue."

AgentStatus = Literal["online", "away", "offline"]


class Recovery:
    def __init__(self, core: Core) -> None:
        self.core = core

    async def register_agent(
        self, agent: AgentRecord, now: float, *, status: str | None = None
    ) -> str:
        """Make the router's view of an agent match the store: skills, capacity, the chats it
        holds (after Redis lost its data they are restored, not routed again) and a status.
        Returns the status in force."""
        core = self.core
        router = core.router
        await router.upsert_agent(agent.id, dict(agent.skills), agent.capacity, now)
        state = await router.agent(agent.id)
        held = await core.store.list_conversations(agent_id=agent.id, status={"active"})
        known = set(state.active) if state is not None else set()
        for conv in held:
            if conv.id not in known:
                await router.restore_assignment(request_for(conv), agent.id, now)
        current = state.status if state is not None else "offline"
        wanted = status or ("away" if current == "offline" else current)
        if wanted != current or state is None:
            await router.set_status(agent.id, cast(AgentStatus, wanted), now)
        core.hub.set_agent_status(agent.id, wanted)
        return wanted

    async def reregister_agents(self, now: float) -> None:
        """Register every agent connected here again, in the status this node gave it."""
        hub = self.core.hub
        for agent_id, client in hub.local_agents():
            if client.agent is not None:
                await self.register_agent(
                    client.agent, now, status=hub.agent_status(agent_id, "away")
                )

    async def requeue(self, conv: ConversationRecord, now: float) -> None:
        """Put a waiting conversation back in the router's queue (after Redis lost it)."""
        visitor = await self.core.store.get_visitor(conv.visitor_id)
        request = request_for(conv)
        if visitor is not None and visitor.name:
            request.meta["visitor_name"] = visitor.name
        await self.core.router.request(request, now)

    async def requeue_waiting(self, now: float) -> None:
        """Route every stored waiting conversation again, oldest first (one node does this).
        One the router holds already stays as it is (a promoted replica had it); one the
        router refuses (it holds it as assigned) is logged and left, and the rest go on."""
        waiting = await self.core.store.list_conversations(status={"queued", "offered"})
        for conv in sorted(waiting, key=lambda c: c.created_at):
            try:
                await self.requeue(conv, now)
            except routing.RoutingError as exc:
                log.info("not requeued", extra={"conversation_id": conv.id, "reason": str(exc)})

    async def resend_offers(self, agent_id: str) -> None:
        """Show an agent's standing offers again. Offers are state in Redis, but the `offered`
        event travels over pub/sub, which drops messages while a node is reconnecting; an agent
        reconnecting to another node would miss them too. Consoles ignore an offer_id twice."""
        core = self.core
        clients = core.hub.agent_clients(agent_id)
        if not clients:
            return
        now = core.now()
        for offer in await core.router.pending_offers(agent_id):
            frame = offer_frame(offer, now)
            for client in clients:
                client.send(frame)

    async def resend_all_offers(self) -> None:
        """`resend_offers` for every agent connected here (after the bus reconnected)."""
        for agent_id, _client in self.core.hub.local_agents():
            await self.resend_offers(agent_id)

    async def on_tick(self, result: routing.TickResult, now: float) -> None:
        """Chats the router took off an agent gone past the grace period: stored as requeued,
        which tells both sides."""
        core = self.core
        for conversation_id in result.requeued:
            conv = await core.store.get_conversation(conversation_id)
            if conv is None or conv.status == "closed":
                continue
            await core.commit_and_publish(
                conversation_id,
                "requeued",
                {"text": REQUEUE_TEXT, "agent_id": conv.agent_id, "reason": "agent_offline"},
                now=now,
                actor_role="system",
                update={"status": "queued", "agent_id": None},
            )


def request_for(conv: ConversationRecord, preview: str = "") -> routing.ConversationRequest:
    """The router's request for a stored conversation."""
    return routing.ConversationRequest(
        conversation_id=conv.id,
        topic=conv.topic,
        language=conv.language,
        priority=conv.priority,
        meta={"visitor_name": "", "preview": preview, "page_url": conv.page_url or ""},
    )
