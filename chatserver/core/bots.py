"""Bot first, then a person (docs/bots.md).

A topic may name a bot (`chatserver.store.bots.BotRecord`): a new conversation on it is held
by the bot — stored ``active`` with ``bot_id`` and no agent, not routed — and the visitor's
``assigned`` says so (``agent.bot``). The bot hears the conversation through its webhook
endpoint and answers through the REST API with its key. It ends in one of two ways:

- closed while the bot holds it: resolved by the bot (the figures count it apart);
- handed over (`BotDesk.handoff`): by the bot's API call (with an optional summary, stored as
  a note), by the visitor's ``handoff`` ("Talk to a person"), or when a visitor's message has
  waited longer than the bot's ``answer_timeout_s`` for its answer. The ``handoff`` event sets
  ``handed_over_at`` and status ``queued`` in the transaction that stores it; only then is the
  conversation routed, so its wait counts from the handoff, not from its start.

A handoff is stored at most once per conversation (its ``client_id`` is the conversation's):
two at once — the visitor's click and the timeout, on two processes — store one event and the
second caller gets that one. Asking again once it is handed over and still waiting routes it
again (the router keeps a conversation it already queues as it is), so a handoff whose routing
failed (Redis away) is finished by its retry.

Timeouts (`BotTimers`): one sorted set in Redis, conversation → deadline, set when a visitor's
message finds none set (ZADD NX: the earliest unanswered message counts) and removed when the
bot answers. Every hub's tick claims the due ones with a lease (a script moves their deadline
past the lease and returns them: one claimant per lease) and hands each over; a claim whose
process died runs again when the lease ends. After Redis lost its data, one hub sets the
deadline again for every conversation a bot holds whose last message is the visitor's
(`BotDesk.rearm`), giving the bot its whole timeout again.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis

import routing
from chatserver import protocol as p
from chatserver.core.base import Core
from chatserver.store.base import ConversationRecord, StoredEvent, iso_now
from chatserver.store.bots import BotRecord

log = logging.getLogger("chatserver.bots")

__all__ = ["HANDOFF_TEXT", "BotDesk", "BotTimers", "HandedOver"]

HANDOFF_TEXT = "Connecting you with a person. Please wait a moment."
#: How long the list of bots is kept before it is read again (an admin's change shows on
#: every process within this).
BOTS_CACHE_S = 2.0
#: Timeouts claimed per tick, and how long a claim is held before another hub may take it.
SWEEP_BATCH = 100
CLAIM_LEASE_S = 30.0

HandoffBy = Literal["visitor", "bot", "timeout"]

# KEYS[1] the deadlines; ARGV: now, the lease's end, how many. Claims the due members by
# moving them to the lease's end, so that no other hub claims them meanwhile.
_CLAIM_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
return due
"""


class BotList(Protocol):
    async def list_bots(self) -> list[BotRecord]: ...


class BotTimers:
    """The answer deadlines of the conversations bots hold, in Redis (module docstring)."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self.key = f"{prefix}:bots:due"
        self._claim = redis.register_script(_CLAIM_LUA)

    async def arm(self, conversation_id: str, deadline: float) -> None:
        """Set the deadline unless one is set already (the earlier question counts)."""
        await self._redis.zadd(self.key, {conversation_id: deadline}, nx=True)

    async def disarm(self, conversation_id: str) -> None:
        await self._redis.zrem(self.key, conversation_id)

    async def claim(self, now: float, limit: int = SWEEP_BATCH) -> list[str]:
        """The due conversations, each held for `CLAIM_LEASE_S` by this caller."""
        found: Any = await self._claim(keys=[self.key], args=[now, now + CLAIM_LEASE_S, limit])
        return [m.decode() if isinstance(m, bytes) else str(m) for m in found or ()]


class HandedOver:
    """A handoff's stored event and what the router answered."""

    __slots__ = ("event", "result")

    def __init__(self, event: StoredEvent, result: routing.RouteResult) -> None:
        self.event = event
        self.result = result


def holds(conv: ConversationRecord) -> bool:
    """Whether a bot holds the conversation now: never handed over, open, no agent."""
    return (
        conv.bot_id is not None
        and conv.handed_over_at is None
        and conv.status == "active"
        and conv.agent_id is None
    )


class BotDesk:
    def __init__(self, core: Core, bots: BotList) -> None:
        self.core = core
        self._bots = bots
        self._cached: list[BotRecord] = []
        self._read_at = float("-inf")
        #: None: no Redis (the core's unit tests); no timeouts then.
        self.timers: BotTimers | None = None

    def use_redis(self, redis: aioredis.Redis, prefix: str) -> None:
        """Keep the answer deadlines in this Redis (the hub context; without: no timeouts)."""
        self.timers = BotTimers(redis, prefix)

    # -- which bot -----------------------------------------------------------------------
    async def bots(self) -> list[BotRecord]:
        """Every bot, read at most every `BOTS_CACHE_S`."""
        if time.monotonic() - self._read_at >= BOTS_CACHE_S:
            self._cached = await self._bots.list_bots()
            self._read_at = time.monotonic()
        return self._cached

    def forget(self) -> None:
        """Read the bots again at the next use (this process changed them)."""
        self._read_at = float("-inf")

    async def for_topic(self, topic: str) -> BotRecord | None:
        """The enabled bot that takes the topic's new conversations, if one does."""
        return next((b for b in await self.bots() if b.enabled and topic in b.topics), None)

    async def for_key(self, key_id: str) -> BotRecord | None:
        """The bot an API key belongs to (disabled ones too: it still speaks as that bot)."""
        return next((b for b in await self.bots() if b.key_id == key_id), None)

    async def by_id(self, bot_id: str) -> BotRecord | None:
        return next((b for b in await self.bots() if b.id == bot_id), None)

    # -- holding ---------------------------------------------------------------------------
    async def take(self, conversation_id: str, bot: BotRecord, now: float) -> StoredEvent:
        """Store that ``bot`` took the new conversation (the visitor's ``assigned``)."""
        return await self.core.append(
            conversation_id,
            "bot",
            {"bot_id": bot.id, "name": bot.name},
            now=now,
            actor_role="system",
            actor_id=f"bot:{bot.id}",
            actor_name=bot.name,
            client_id=f"bot-{conversation_id}",
        )

    async def visitor_wrote(self, conv: ConversationRecord, now: float) -> None:
        """A visitor's message in a conversation a bot holds: its answer is now due."""
        if self.timers is None or not holds(conv):
            return
        assert conv.bot_id is not None
        bot = await self.by_id(conv.bot_id)
        if bot is None:  # deleted meanwhile: nobody will answer
            await self.handoff(conv, by="timeout", now=now)
            return
        await self.answer_due(conv.id, bot, now)

    async def answer_due(self, conversation_id: str, bot: BotRecord, now: float) -> None:
        """The bot owes an answer from ``now`` (unless it owes one already)."""
        if self.timers is not None:
            await self.timers.arm(conversation_id, now + bot.answer_timeout_s)

    async def answered(self, conversation_id: str) -> None:
        """The bot answered: nothing is due."""
        if self.timers is not None:
            await self.timers.disarm(conversation_id)

    # -- handing over ------------------------------------------------------------------------
    async def handoff(
        self,
        conv: ConversationRecord,
        *,
        by: HandoffBy,
        now: float,
        actor_id: str | None = None,
        actor_name: str | None = None,
        summary: str | None = None,
    ) -> HandedOver:
        """Hand the conversation to the agents' queue (module docstring). `p.Conflict` if no
        bot holds it and it is not waiting after a handoff either."""
        core = self.core
        if conv.bot_id is None:
            raise p.Conflict(f"conversation {conv.id} is not a bot's; it went to the agents")
        if holds(conv):
            if summary:
                await core.commit_and_publish(
                    conv.id,
                    "note",
                    {"text": summary, "summary": True},
                    now=now,
                    actor_role="agent",
                    actor_id=actor_id,
                    actor_name=actor_name,
                    client_id=f"handoff-summary-{conv.id}",
                )
            body: dict[str, Any] = {"text": HANDOFF_TEXT, "by": by, "bot_id": conv.bot_id}
            if summary:
                body["summary"] = summary
            role = {"visitor": "visitor", "bot": "agent", "timeout": "system"}[by]
            event = await core.commit_and_publish(
                conv.id,
                "handoff",
                body,
                now=now,
                actor_role=role,
                actor_id=actor_id,
                actor_name=actor_name,
                client_id=f"handoff-{conv.id}",
                update={"status": "queued", "handed_over_at": iso_now(now)},
            )
            if event.kind != "handoff":  # cannot happen: the client_id is the handoff's own
                raise p.Conflict(f"conversation {conv.id} could not be handed over")
            if not event.duplicate:
                log.info(
                    "conversation handed over",
                    extra={"conversation_id": conv.id, "by": by, "bot_id": conv.bot_id},
                )
        elif conv.handed_over_at is not None and conv.status == "queued":
            found = await core.store.events(conv.id, kinds=["handoff"], limit=1)
            if not found:
                raise p.Conflict(f"conversation {conv.id} has no handoff stored")
            event = found[0]
        else:
            state = "closed" if conv.status == "closed" else "with an agent"
            if conv.handed_over_at is not None and conv.status != "closed":
                state = "handed over and with an agent"
            raise p.Conflict(f"conversation {conv.id} is {state}; no bot holds it")
        await self.answered(conv.id)
        result = await self._route(conv, summary, now)
        self._tell_visitors(conv, result)
        return HandedOver(event, result)

    async def _route(
        self, conv: ConversationRecord, summary: str | None, now: float
    ) -> routing.RouteResult:
        """Queue the handed-over conversation, its wait counted from now."""
        store = self.core.store
        visitor = await store.get_visitor(conv.visitor_id)
        preview = summary or ""
        if not preview:
            said = [
                e
                for e in await store.events(conv.id, kinds=["message"])
                if e.actor_role == "visitor"
            ]
            preview = str(said[-1].body.get("text", "")) if said else ""
        return await self.core.router.request(
            routing.ConversationRequest(
                conversation_id=conv.id,
                topic=conv.topic,
                language=conv.language,
                preferred_agent=conv.last_agent_id,
                meta={
                    "visitor_name": (visitor.name if visitor else None) or "",
                    "preview": preview[:200],
                    "page_url": conv.page_url or "",
                },
            ),
            now,
        )

    def _tell_visitors(self, conv: ConversationRecord, result: routing.RouteResult) -> None:
        """This process's visitors of the conversation: their place, and `offline` if no
        agent is online for it. (A visitor on another process follows its place from the
        handoff event it receives: `Core.on_visitor_event`.)"""
        core = self.core
        visitors = list(core.hub.visitors_of(conv.id))
        if not visitors:
            return
        frames = []
        if result.status == "queued":
            position = result.position if result.position is not None else 0
            frames.append(p.frames.queue(conv.id, position, result.eta_s))
            core.positions.follow(conv.id, result.position, result.eta_s)
        if result.agents_online == 0:
            frames.append(p.frames.offline(conv.id, topic=conv.topic, language=conv.language))
        for client in visitors:
            for frame in frames:
                client.send(frame)

    # -- timeouts --------------------------------------------------------------------------
    async def sweep(self, now: float) -> int:
        """Hand over every conversation whose bot did not answer in time; how many."""
        if self.timers is None:
            return 0
        done = 0
        for conversation_id in await self.timers.claim(now):
            conv = await self.core.store.get_conversation(conversation_id)
            if conv is None or not holds(conv):
                await self.timers.disarm(conversation_id)
                continue
            try:
                await self.handoff(conv, by="timeout", now=now)
                done += 1
            except p.Conflict:  # handed over or closed meanwhile
                await self.timers.disarm(conversation_id)
        return done

    async def rearm(self, now: float) -> int:
        """After Redis lost its data: the deadline again for every conversation a bot holds
        whose last message is the visitor's (the whole timeout from now); how many."""
        if self.timers is None:
            return 0
        armed = 0
        for conv in await self.core.store.list_conversations(status={"active"}):
            if not holds(conv):
                continue
            messages = await self.core.store.events(conv.id, kinds=["message"])
            if messages and messages[-1].actor_role == "visitor":
                assert conv.bot_id is not None
                bot = await self.by_id(conv.bot_id)
                await self.timers.arm(conv.id, now + (bot.answer_timeout_s if bot else 0.0))
                armed += 1
        return armed
