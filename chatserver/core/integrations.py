"""What an integration does to a conversation through the REST API v1 (docs/api.md): post a
message, add a note, tag, transfer, close — the same changes an agent's WebSocket commands make
(`chatserver.core.agents`, `chatserver.core.conversations`), made through the same `Core`:
checked, committed to the store (which assigns ``seq``), told to the router, then published to
every live socket on every process, so a visitor sees an API message as it sees an agent's.

An integration is not a socket: nothing here is acked to a connection; each use-case returns
the stored event, which the web adapter answers with.

Who the change is by (``actor``): an API key speaks as its integration (``role`` "agent",
named by the key's name, ``id`` ``key:<key id>``), or — a ``write`` key with ``as_agent`` —
as that agent. Idempotency: with a ``client_id`` a retried call stores nothing and returns
the event the first call stored (also after the conversation has moved on), as the
WebSocket's ``client_id`` does; the store keeps it as ``<key id>:<client_id>`` so two keys, or
a key and a visitor, never share one.

A key that belongs to a bot (`chatserver.core.bots`) speaks as that bot (``id`` ``bot:<bot
id>``, its name), and only in conversations its bot holds; `handoff` is how it lets go.

Refusals are `chatserver.protocol` errors, as for the sockets: `p.NotFound`, `p.Conflict`
(closed, not active, another kind stored under that ``client_id``), `p.BadFrame` (a topic not
offered), `p.Forbidden`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import routing
from chatserver import protocol as p
from chatserver.core.agents import TRANSFER_TEXT
from chatserver.core.base import Core
from chatserver.core.bots import BotDesk, HandedOver, holds
from chatserver.core.conversations import ConversationCommands
from chatserver.store.base import AgentRecord, ConversationRecord, JSONObject, StoredEvent, iso_now

log = logging.getLogger("chatserver.integrations")

__all__ = ["Actor", "AgentAccounts", "IntegrationCommands"]


class AgentAccounts(Protocol):
    """What an integration needs of the store besides the core's part: agents by id."""

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a change is by: ``id`` and ``name`` as stored with the event. ``agent`` is set when
    it speaks as an agent account (then a reply counts as the chat's first response)."""

    id: str
    name: str
    agent: bool = False
    #: The key the call came with: its client ids are kept apart from every other's.
    key_id: str = ""
    #: Set when the key belongs to a bot: it speaks as the bot, in its conversations only.
    bot_id: str | None = None

    def stored_client_id(self, client_id: str | None) -> str | None:
        return None if client_id is None else f"{self.key_id}:{client_id}"


class IntegrationCommands:
    def __init__(
        self,
        core: Core,
        conversations: ConversationCommands,
        accounts: AgentAccounts,
        bots: BotDesk,
    ) -> None:
        self.core = core
        self.conversations = conversations
        self.accounts = accounts
        self.bots = bots

    # -- who -------------------------------------------------------------------------------

    async def as_agent(self, agent_id: str, key_id: str) -> Actor:
        """An agent account to speak as (a ``write`` key's ``as_agent``)."""
        agent = await self.accounts.get_agent(agent_id)
        if agent is None or agent.disabled:
            raise p.NotFound(f"no agent {agent_id!r} (as_agent names an enabled agent's id)")
        return Actor(agent.id, agent.display_name, agent=True, key_id=key_id)

    async def as_key(self, key_id: str, key_name: str) -> Actor:
        """The key's own voice: its bot's, if it belongs to one, else the integration's."""
        bot = await self.bots.for_key(key_id)
        if bot is not None:
            return Actor(f"bot:{bot.id}", bot.name, key_id=key_id, bot_id=bot.id)
        return Actor(f"key:{key_id}", key_name, key_id=key_id)

    def _check_bot(self, actor: Actor, conv: ConversationRecord) -> None:
        """A bot's key acts only in a conversation its bot holds."""
        if actor.bot_id is None:
            return
        if conv.bot_id != actor.bot_id:
            raise p.Forbidden(f"conversation {conv.id} is not this bot's")
        if not holds(conv):
            state = "closed" if conv.status == "closed" else "handed over"
            raise p.Conflict(f"conversation {conv.id} is {state}; the bot no longer holds it")

    # -- the changes -----------------------------------------------------------------------

    async def message(
        self, actor: Actor, conversation_id: str, text: str, client_id: str | None
    ) -> StoredEvent:
        """A message every participant sees (the visitor too), as from ``actor``."""
        conv = await self.core.conversation(conversation_id)
        stored_id = actor.stored_client_id(client_id)
        again = await self._replay(conv, "message", stored_id)
        if again is not None:
            return again
        if conv.status == "closed":
            raise p.Conflict(f"conversation {conv.id} is closed")
        self._check_bot(actor, conv)
        now = self.core.now()
        update = None
        if actor.agent and conv.first_response_at is None:
            update = {"first_response_at": iso_now(now)}
        event = await self._commit(
            conv, "message", {"text": text}, actor, stored_id, now=now, update=update
        )
        if actor.bot_id is not None:
            await self.bots.answered(conv.id)
        return event

    async def note(
        self, actor: Actor, conversation_id: str, text: str, client_id: str | None
    ) -> StoredEvent:
        """An internal note: stored, shown to agents and supervisors, never to the visitor."""
        conv = await self.core.conversation(conversation_id)
        stored_id = actor.stored_client_id(client_id)
        again = await self._replay(conv, "note", stored_id)
        if again is not None:
            return again
        self._check_bot(actor, conv)
        return await self._commit(conv, "note", {"text": text}, actor, stored_id)

    async def handoff(
        self, actor: Actor, conversation_id: str, summary: str | None
    ) -> tuple[StoredEvent, HandedOver | None]:
        """The bot lets go: the conversation joins the agents' queue (``summary``, if given,
        stored as a note first). Again after it was handed over: the stored handoff,
        ``duplicate`` when it was this caller's."""
        conv = await self.core.conversation(conversation_id)
        if actor.bot_id is not None and conv.bot_id != actor.bot_id:
            raise p.Forbidden(f"conversation {conv.id} is not this bot's")
        if not holds(conv) and conv.handed_over_at is not None:
            found = await self.core.store.events(conv.id, kinds=["handoff"], limit=1)
            if found and found[0].actor_id == actor.id:
                return dataclasses.replace(found[0], duplicate=True), None
        done = await self.bots.handoff(
            conv,
            by="bot",
            now=self.core.now(),
            actor_id=actor.id,
            actor_name=actor.name,
            summary=summary,
        )
        return done.event, done

    async def tag(
        self,
        actor: Actor,
        conversation_id: str,
        add: list[str],
        remove: list[str],
        client_id: str | None,
    ) -> StoredEvent:
        """Add and remove tags (removing one the conversation lacks: `p.NotFound`)."""
        conv = await self.core.conversation(conversation_id)
        stored_id = actor.stored_client_id(client_id)
        again = await self._replay(conv, "tag", stored_id)
        if again is not None:
            return again
        unknown = [t for t in remove if t not in conv.tags]
        if unknown:
            has = ", ".join(conv.tags) if conv.tags else "none"
            raise p.NotFound(
                f"conversation {conv.id} has no tag {unknown[0]!r} to remove (its tags: {has})"
            )
        tags = sorted((set(conv.tags) | set(add)) - set(remove))
        body: dict[str, Any] = {"tags": list(add), "all": tags}
        if remove:
            body["removed"] = list(remove)
        return await self._commit(conv, "tag", body, actor, stored_id, update={"tags": tags})

    async def transfer(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        to_agent: str | None,
        to_topic: str | None,
        client_id: str | None,
    ) -> StoredEvent:
        """Hand an active chat to an agent (by id: offered to them, skills not required) or
        back to the queue, under ``to_topic`` if given — the router's transfer, as an agent's."""
        conv = await self.core.conversation(conversation_id)
        stored_id = actor.stored_client_id(client_id)
        again = await self._replay(conv, "transfer", stored_id)
        if again is not None:
            return again
        if conv.status != "active":
            raise p.Conflict(
                f"conversation {conv.id} is {conv.status}; only active chats can be transferred"
            )
        if holds(conv):
            raise p.Conflict(f"a bot holds conversation {conv.id}; hand it over instead")
        target_name = None
        if to_agent is not None:
            target = await self.accounts.get_agent(to_agent)
            if target is None or target.disabled:
                raise p.NotFound(f"no agent {to_agent!r}")
            if target.id == conv.agent_id:
                raise p.Conflict(f"agent {to_agent!r} already holds conversation {conv.id}")
            target_name = target.username
        elif to_topic is not None and to_topic not in self.core.router_config.topics:
            allowed = ", ".join(self.core.router_config.topics)
            raise p.BadFrame(f"to_topic {to_topic!r} is not offered; allowed: {allowed}")
        now = self.core.now()
        try:
            result = await self.core.router.transfer(
                conv.id, now, to_agent=to_agent, to_topic=to_topic
            )
        except routing.AgentUnavailable as exc:
            raise p.Conflict(str(exc)) from None
        update: dict[str, Any] = {"status": "queued", "agent_id": None}
        if to_topic is not None:
            update["topic"] = to_topic
        body: JSONObject = {
            "text": TRANSFER_TEXT,
            "from_agent": conv.agent_id,
            "to_agent": target_name,
            "to_topic": to_topic,
            "position": result.position,
        }
        return await self._commit(conv, "transfer", body, actor, stored_id, now=now, update=update)

    async def close(self, actor: Actor, conversation_id: str) -> StoredEvent:
        """End the chat (``by`` "agent"): both sides see ``closed``; the router frees its agent
        or takes it off the queue. Closing a closed one answers with the first close."""
        conv = await self.core.conversation(conversation_id)
        if conv.status == "closed":
            closed = await self.core.store.events(conv.id, kinds=["closed"], limit=1)
            if closed:
                return closed[0]
            raise p.Conflict(f"conversation {conv.id} is already closed")
        self._check_bot(actor, conv)
        was, now = conv.status, self.core.now()
        log.info("conversation closed", extra={"conversation_id": conv.id, "by": "api"})
        event = await self._commit(
            conv,
            "closed",
            {"by": "agent"},
            actor,
            None,
            now=now,
            update={
                "status": "closed",
                "closed_at": iso_now(now),
                "closed_by": "agent",
                "agent_id": None,
            },
        )
        if holds(conv):
            await self.bots.answered(conv.id)  # resolved by the bot: nothing more is due
        else:
            await self.conversations.finish_routing(conv.id, was, now)
        return event

    # -- helpers ---------------------------------------------------------------------------

    async def _replay(
        self, conv: ConversationRecord, kind: str, stored_id: str | None
    ) -> StoredEvent | None:
        """The event an earlier call with this ``client_id`` stored, if any."""
        if stored_id is None:
            return None
        for event in await self.core.store.events(conv.id, kinds=[kind]):
            if event.client_id == stored_id:
                return dataclasses.replace(event, duplicate=True)
        return None

    async def _commit(
        self,
        conv: ConversationRecord,
        kind: str,
        body: JSONObject,
        actor: Actor,
        stored_id: str | None,
        *,
        now: float | None = None,
        update: dict[str, Any] | None = None,
    ) -> StoredEvent:
        event = await self.core.commit_and_publish(
            conv.id,
            kind,
            body,
            now=self.core.now() if now is None else now,
            actor_role="agent",
            actor_id=actor.id,
            actor_name=actor.name,
            client_id=stored_id,
            update=update,
        )
        if event.kind != kind:  # that client_id holds another kind of event
            raise p.Conflict(f"client_id was used for a {event.kind} of this conversation")
        return event
