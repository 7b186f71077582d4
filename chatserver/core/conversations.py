"""The commands both sides send about a conversation they take part in: ``resume``, ``typing``,
``read`` and ``close``.

``typing`` and ``read`` are not stored: they are relayed to the other side, at most once per
interval per conversation and side (`chatserver.core.coalesce`), to this node's sockets and over
the bus to the others (`Hub.relay`).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any, cast

import routing
from chatserver import protocol as p
from chatserver.core.base import Core
from chatserver.core.coalesce import Coalescer, highest_seq
from chatserver.core.delivery import Client
from chatserver.core.recovery import Recovery
from chatserver.store.base import iso_now

log = logging.getLogger("chatserver.service")


class ConversationCommands:
    def __init__(self, core: Core, recovery: Recovery) -> None:
        self.core = core
        self.recovery = recovery
        #: typing and read, relayed at most once per interval per conversation and side.
        self.ephemeral = Coalescer(self._relay_ephemeral)

    async def resume(self, client: Client, cmd: p.Resume) -> None:
        if client.role == "visitor":
            conv = await self.core.visitor_conversation(client, cmd.conversation_id)
        else:
            conv = await self.core.agent_conversation(client, cmd.conversation_id, watch=True)
            if conv.agent_id == client.agent_id and conv.status == "active":
                client.held.add(conv.id)
        if cmd.last_seq > conv.last_seq:
            raise p.BadFrame(
                f"last_seq {cmd.last_seq} is ahead of conversation {conv.id}, which is at {conv.last_seq}"
            )
        last = await self.core.hub.subscribe(client, conv.id, cmd.last_seq)
        client.send(p.frames.resumed(conv.id, last, ref=cmd.ref))
        if client.role == "visitor" and conv.status in ("queued", "offered"):
            position, eta = await self.core.router.position(conv.id, self.core.now())
            if position is None and await self.core.router.conversation_state(conv.id) is None:
                # Stored but unknown to the router: its start was answered `unavailable` after
                # the store had it. Route it now (request is idempotent).
                await self.recovery.requeue(conv, self.core.now())
                position, eta = await self.core.router.position(conv.id, self.core.now())
            if position is not None:
                client.send(p.frames.queue(conv.id, position, eta))
                self.core.positions.follow(conv.id, position, eta)

    def _relay_ephemeral(self, key: Hashable, frame: dict[str, Any]) -> None:
        conversation_id, role, _kind = cast(tuple[str, str, str], key)
        self.core.hub.relay(conversation_id, frame, from_role=role)

    async def typing(self, client: Client, cmd: p.Typing) -> None:
        await self.core.participant_conversation(client, cmd.conversation_id)
        self.ephemeral.offer(
            (cmd.conversation_id, client.role, "typing"),
            p.frames.typing_object(cmd.conversation_id, cmd.active, by_role=client.role),
        )

    async def read(self, client: Client, cmd: p.Read) -> None:
        conv = await self.core.participant_conversation(client, cmd.conversation_id)
        if cmd.seq > conv.last_seq:
            raise p.BadFrame(
                f"seq {cmd.seq} is ahead of conversation {conv.id}, which is at {conv.last_seq}"
            )
        self.ephemeral.offer(
            (cmd.conversation_id, client.role, "read"),
            p.frames.read_object(cmd.conversation_id, cmd.seq, by_role=client.role),
            highest_seq,
        )

    async def close(self, client: Client, cmd: p.Close) -> None:
        now = self.core.now()
        if client.role == "visitor":
            conv = await self.core.visitor_conversation(client, cmd.conversation_id)
            actor_id, name = client.visitor_id, None
        else:
            agent = self.core.require_chat_role(client)
            conv = await self.core.agent_conversation(client, cmd.conversation_id)
            actor_id, name = agent.id, agent.display_name
        if conv.status == "closed":
            # Closing twice is answered like the first time: a retry must not look like a failure.
            closed = await self.core.store.events(conv.id, kinds=["closed"], limit=1)
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
        event = await self.core.commit_and_publish(
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
        if not self.core.hub.is_subscribed(client, conv.id):
            client.send(
                p.frames.closed(
                    conv.id, by=cast(p.ClosedBy, client.role), seq=event.seq, ts=event.ts
                )
            )
        await self.finish_routing(conv.id, was, now)

    async def finish_routing(self, conversation_id: str, was: str, now: float) -> None:
        """The router's side of a close: an active chat frees its agent, a waiting one leaves
        the queue (and any offer of it is withdrawn)."""
        try:
            if was == "active":
                await self.core.router.release(conversation_id, now)
            else:
                await self.core.router.cancel(conversation_id, now)
        except routing.UnknownConversation:
            log.info(
                "router did not know the conversation", extra={"conversation_id": conversation_id}
            )
