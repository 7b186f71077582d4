"""Conversations with a bot's part, written as the store holds them (docs/bots.md's stored
events: ``bot``, the bot's ``message``s, ``handoff`` with ``handed_over_at``), for the tests of
the figures, the export and the dashboard. Each conversation of `seed` is in a topic of its
own but the bot-held ones, so a topic's figures are one conversation's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chatserver.store import ConversationRecord, Store, VisitorRecord
from chatserver.store.bots import BotRecord

BOT_ID = "bot-1"
BOT_NAME = "Billing Bot"


@dataclass(frozen=True)
class Seeded:
    """The ids of what `seed` wrote, and the waits it means (seconds)."""

    resolved: str  # a bot's, closed without a handoff (topic general)
    held: str  # a bot's, held still (topic general)
    handed_over: str  # a bot's, handed over 120 s in, assigned 30 s later (topic billing)
    served: str  # no bot, assigned 20 s in (topic account)
    abandoned: str  # no bot, closed unassigned (topic technical)
    handed_over_wait_s: float = 30.0
    served_wait_s: float = 20.0


def _at(start: datetime, seconds: float) -> str:
    moment = start + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def seed(store: Store, start: datetime, agent_id: str, agent_name: str) -> Seeded:
    """Five conversations arriving from ``start`` (UTC, naive or aware), the served ones
    assigned to ``agent_id``; the bot `BOT_ID` is added too."""
    await store.add_bot(
        BotRecord(BOT_ID, BOT_NAME, "endpoint-1", "key-1", ("general", "billing"), 20.0,
                  _at(start, -3600), _at(start, -3600))
    )  # fmt: skip
    ids = Seeded(
        resolved="c-bot-resolved",
        held="c-bot-held",
        handed_over="c-handed-over",
        served="c-served",
        abandoned="c-abandoned",
    )
    plan = [
        (ids.resolved, "general", 0), (ids.held, "general", 10),
        (ids.handed_over, "billing", 20), (ids.served, "account", 30),
        (ids.abandoned, "technical", 40),
    ]  # fmt: skip
    for cid, topic, offset in plan:
        created = _at(start, offset)
        await store.add_visitor(VisitorRecord(f"v-{cid}", f"h-{cid}", "default", created))
        await store.add_conversation(
            ConversationRecord(cid, f"v-{cid}", "default", topic, "en", "queued", created)
        )
        await store.append(
            cid, "start", {"topic": topic}, ts=created, actor_role="visitor", actor_id=f"v-{cid}"
        )

    async def bot_takes(cid: str, at: float) -> None:
        await store.append(
            cid, "bot", {"bot_id": BOT_ID, "name": BOT_NAME}, ts=_at(start, at),
            actor_role="system", update={"bot_id": BOT_ID, "status": "active"},
        )  # fmt: skip
        await store.append(
            cid, "message", {"text": "Hi, I am the bot. How can I help?"}, ts=_at(start, at + 1),
            actor_role="agent", actor_id=f"bot:{BOT_ID}", actor_name=BOT_NAME,
        )  # fmt: skip

    async def assign(cid: str, at: float) -> None:
        await store.append(
            cid, "assigned", {"agent_id": agent_id, "display_name": agent_name},
            ts=_at(start, at), actor_role="system",
            update={"status": "active", "agent_id": agent_id, "last_agent_id": agent_id,
                    "assigned_at": _at(start, at)},
        )  # fmt: skip
        await store.append(
            cid, "message", {"text": "A person here."}, ts=_at(start, at + 5),
            actor_role="agent", actor_id=agent_id, actor_name=agent_name,
        )  # fmt: skip

    async def close(cid: str, at: float) -> None:
        await store.append(
            cid, "closed", {"by": "visitor"}, ts=_at(start, at), actor_role="visitor",
            update={"status": "closed", "closed_at": _at(start, at), "closed_by": "visitor"},
        )  # fmt: skip

    await bot_takes(ids.resolved, 0.5)
    await close(ids.resolved, 60)
    await bot_takes(ids.held, 10.5)
    await bot_takes(ids.handed_over, 20.5)
    await store.append(
        ids.handed_over, "handoff",
        {"text": "Connecting you with a person. Please wait a moment.", "by": "visitor",
         "bot_id": BOT_ID},
        ts=_at(start, 140), actor_role="visitor",
        update={"status": "queued", "handed_over_at": _at(start, 140)},
    )  # fmt: skip
    await assign(ids.handed_over, 140 + ids.handed_over_wait_s)
    await close(ids.handed_over, 400)
    await assign(ids.served, 30 + ids.served_wait_s)
    await close(ids.served, 300)
    await close(ids.abandoned, 100)
    return ids
