"""Bot first, then a person, as the visitor, the bot's service and the agent see it: a scripted
bot answers and hands over with a summary; the visitor asks for a person; a silent bot is timed
out (also after Redis lost its data); a bot resolves a chat itself; a bot's key reaches only
its own conversations."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis

from tests.admin.conftest import api
from tests.api.conftest import call, make_key
from tests.bots.conftest import Bot, make_bot, scripted
from tests.chatserver.integration.conftest import Hub
from tests.support.peer import Peer
from tests.support.receiver import Receiver

BOT_LINE = "Connecting you with a person. Please wait a moment."


async def bot_chat(hub: Hub, bot: Bot, text: str | None = "hello") -> tuple[Peer, str]:
    """A visitor starts on the bot's topic: queued at 0 first (the contract), then the bot's
    ``assigned``."""
    visitor, _ = await hub.visitor()
    start: dict[str, Any] = {"type": "start", "topic": "billing", "language": "en", "name": "Vi"}
    if text is not None:
        start["text"] = text
    queued = await visitor.request(start, expect="queued")
    assert (queued["position"], queued["eta_s"]) == (0, None)
    conv: str = queued["conversation_id"]
    assigned = await visitor.expect("assigned", conversation_id=conv)
    assert assigned["agent"] == {"display_name": bot.name, "bot": True}
    return visitor, conv


async def record(hub: Hub, bot: Bot, conv: str) -> dict[str, Any]:
    r = await api(hub.server, "GET", f"/api/v1/conversations/{conv}", token=bot.admin)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def figures(hub: Hub, bot: Bot) -> dict[str, int]:
    r = await api(hub.server, "GET", f"/api/v1/admin/bots/{bot.id}", token=bot.admin)
    assert r.status_code == 200, r.text
    got: dict[str, int] = r.json()["bot"]["figures"]
    return got


async def test_a_scripted_bot_answers_then_hands_over_with_a_summary(
    hub: Hub, receiver: Receiver
) -> None:
    bot = await make_bot(hub, receiver)
    ann, _ = await hub.agent("ann")
    async with scripted(hub, receiver, bot) as answers:
        visitor, conv = await bot_chat(hub, bot, "hello")
        reply = await visitor.expect(
            "message", conversation_id=conv, text="Hi, I'm Penny. You said: hello", timeout=10
        )
        assert reply["from"] == {"role": "agent", "name": "Penny"}
        assert await figures(hub, bot) == {"held": 1, "resolved": 0, "handed_over": 0}
        assert not ann.take("offer"), "a bot's conversation is not offered while it holds it"
        handed_at = time.time()
        await visitor.request(
            {
                "type": "message",
                "conversation_id": conv,
                "text": "I want a refund",
                "client_id": "m2",
            }
        )
        line = await visitor.expect("message", conversation_id=conv, text=BOT_LINE, timeout=10)
        assert line["from"]["role"] == "system"
        offer = await ann.expect("offer", timeout=10)  # Ann is free: offered at once
    assert [a["call"] for a in answers] == ["message", "handoff"]
    assert answers[1]["status"] == 201, answers[1]
    assert answers[1]["json"]["queue"]["agents_online"] == 1
    assert offer["conversation"]["conversation_id"] == conv
    # The bot's time is not waiting: the wait counts from the handoff.
    assert offer["conversation"]["waited_s"] <= time.time() - handed_at + 1
    assert offer["conversation"]["preview"].startswith("Wants a refund")
    await ann.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    person = await visitor.expect("assigned", conversation_id=conv, timeout=10)
    assert person["agent"] == {"display_name": "Ann Lee"}
    # The agent's history: the bot's lines, the summary as a note, the handoff line.
    note = await ann.expect("note", conversation_id=conv, timeout=10)
    assert note["text"] == "Wants a refund: I want a refund"
    await ann.expect("message", conversation_id=conv, text=BOT_LINE, timeout=10)
    data = await record(hub, bot, conv)
    c = data["conversation"]
    assert c["bot_id"] == bot.id and c["handed_over_at"] is not None
    assert c["status"] == "active" and c["agent_id"] is not None
    handoff = [e for e in data["events"] if e["kind"] == "handoff"]
    assert len(handoff) == 1 and handoff[0]["body"]["by"] == "bot"
    assert handoff[0]["from"] == {"role": "agent", "id": f"bot:{bot.id}", "name": "Penny"}
    assert c["first_response_at"] is None, "the bot's reply is not the first response"
    assert await figures(hub, bot) == {"held": 0, "resolved": 0, "handed_over": 1}
    # The bot lets go for good: its key no longer writes there; its retry answers the same.
    again = await call(
        hub.server, "POST", f"/api/v1/conversations/{conv}/handoff", key=bot.key.secret
    )
    assert again.status_code == 200 and again.json()["event"]["seq"] == handoff[0]["seq"]
    late = await call(
        hub.server,
        "POST",
        f"/api/v1/conversations/{conv}/messages",
        key=bot.key.secret,
        json={"text": "still here"},
    )
    assert late.status_code == 409, late.text
    assert "handed over" in late.json()["message"]


async def test_the_visitor_asks_for_a_person(hub: Hub, receiver: Receiver) -> None:
    bot = await make_bot(hub, receiver)
    ann, _ = await hub.agent("ann")
    visitor, conv = await bot_chat(hub, bot, None)
    ack = await visitor.request({"type": "handoff", "conversation_id": conv})
    assert ack["conversation_id"] == conv
    await visitor.expect("message", conversation_id=conv, text=BOT_LINE, timeout=10)
    offer = await ann.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    # Asking again while waiting answers with the same handoff (a retry stores nothing).
    again = await visitor.request({"type": "handoff", "conversation_id": conv})
    assert again["seq"] == ack["seq"]
    data = await record(hub, bot, conv)
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.count("handoff") == 1
    assert next(e for e in data["events"] if e["kind"] == "handoff")["body"]["by"] == "visitor"
    await ann.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await visitor.expect("assigned", conversation_id=conv, timeout=10)
    late = await visitor.answer({"type": "handoff", "conversation_id": conv})
    assert (late["type"], late["code"]) == ("error", "conflict"), late
    # Someone else's conversation: not found, nothing changes.
    stranger, _ = await hub.visitor()
    other = await stranger.answer({"type": "handoff", "conversation_id": conv})
    assert (other["type"], other["code"]) == ("error", "not_found"), other


async def test_a_conversation_without_a_bot_cannot_be_handed_over(
    hub: Hub, receiver: Receiver
) -> None:
    bot = await make_bot(hub, receiver)
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en"}, expect="queued"
    )
    conv = queued["conversation_id"]
    refused = await visitor.answer({"type": "handoff", "conversation_id": conv})
    assert (refused["type"], refused["code"]) == ("error", "conflict"), refused
    assert not visitor.take("assigned"), "no bot takes a topic it does not name"
    # Nor may the bot's key touch it.
    r = await call(
        hub.server,
        "POST",
        f"/api/v1/conversations/{conv}/messages",
        key=bot.key.secret,
        json={"text": "hello from a bot"},
    )
    assert r.status_code == 403, r.text
    r = await call(hub.server, "POST", f"/api/v1/conversations/{conv}/handoff", key=bot.key.secret)
    assert r.status_code == 403, r.text
    data = await record(hub, bot, conv)
    assert [e["kind"] for e in data["events"]] == ["start"]


async def test_a_silent_bot_is_timed_out(hub: Hub, receiver: Receiver) -> None:
    bot = await make_bot(hub, receiver, timeout_s=1)
    ann, _ = await hub.agent("ann")
    visitor, conv = await bot_chat(hub, bot, "anyone there?")
    began = time.monotonic()
    line = await visitor.expect("message", conversation_id=conv, text=BOT_LINE, timeout=15)
    assert time.monotonic() - began >= 0.5  # not before the bot's second was (nearly) up
    assert line["from"]["role"] == "system"
    offer = await ann.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    data = await record(hub, bot, conv)
    handoff = [e for e in data["events"] if e["kind"] == "handoff"]
    assert len(handoff) == 1 and handoff[0]["body"]["by"] == "timeout"
    assert handoff[0]["from"]["role"] == "system"


async def armed(redis: aioredis.Redis, key: str, conv: str) -> float:
    """The conversation's answer deadline, once it is set (after the visitor's ack)."""
    until = time.monotonic() + 10
    while (deadline := await redis.zscore(key, conv)) is None:
        assert time.monotonic() < until, "no deadline set"
        await asyncio.sleep(0.02)
    return float(deadline)


async def test_an_answer_in_time_clears_the_deadline(hub: Hub, receiver: Receiver) -> None:
    bot = await make_bot(hub, receiver, timeout_s=60)
    redis = aioredis.from_url(hub.redis.url)
    key = f"{hub.env['CHATSERVER_REDIS_PREFIX']}:bots:due"
    try:
        visitor, conv = await bot_chat(hub, bot, "hello")
        deadline = await armed(redis, key, conv)
        assert 50 < deadline - time.time() <= 60
        r = await call(
            hub.server,
            "POST",
            f"/api/v1/conversations/{conv}/messages",
            key=bot.key.secret,
            json={"text": "Hello!"},
        )
        assert r.status_code == 201, r.text
        assert await redis.zscore(key, conv) is None
        # A second message sets it again; a third keeps the earlier deadline (the oldest
        # unanswered question counts).
        await visitor.request(
            {"type": "message", "conversation_id": conv, "text": "a", "client_id": "a"}
        )
        first = await armed(redis, key, conv)
        await visitor.request(
            {"type": "message", "conversation_id": conv, "text": "b", "client_id": "b"}
        )
        await visitor.request(  # answered once "b" was handled: one command at a time
            {"type": "message", "conversation_id": conv, "text": "c", "client_id": "c"}
        )
        assert await redis.zscore(key, conv) == first
    finally:
        await redis.aclose()


async def test_a_bot_resolves_a_chat_itself(hub: Hub, receiver: Receiver) -> None:
    bot = await make_bot(hub, receiver)
    visitor, conv = await bot_chat(hub, bot, "what are your hours?")
    r = await call(
        hub.server,
        "POST",
        f"/api/v1/conversations/{conv}/messages",
        key=bot.key.secret,
        json={"text": "9 to 5, every weekday."},
    )
    assert r.status_code == 201, r.text
    r = await call(hub.server, "POST", f"/api/v1/conversations/{conv}/close", key=bot.key.secret)
    assert r.status_code == 200, r.text
    closed = await visitor.expect("closed", conversation_id=conv, timeout=10)
    assert closed["by"] == "agent"
    assert await figures(hub, bot) == {"held": 0, "resolved": 1, "handed_over": 0}
    rated = await visitor.request({"type": "rate", "conversation_id": conv, "score": 5})
    assert rated["conversation_id"] == conv
    # A visitor who leaves the bot satisfied: resolved by the bot too.
    other, conv2 = await bot_chat(hub, bot, "thanks, that's all")
    await other.request({"type": "close", "conversation_id": conv2})
    await other.expect("closed", conversation_id=conv2, timeout=10)
    assert await figures(hub, bot) == {"held": 0, "resolved": 2, "handed_over": 0}
    late = await call(
        hub.server, "POST", f"/api/v1/conversations/{conv2}/handoff", key=bot.key.secret
    )
    assert late.status_code == 409, late.text


async def test_after_redis_lost_its_data_a_silent_bot_is_still_timed_out(
    hub: Hub, receiver: Receiver
) -> None:
    bot = await make_bot(hub, receiver, timeout_s=2)
    redis = aioredis.from_url(hub.redis.url)
    try:
        visitor, conv = await bot_chat(hub, bot, "hello?")
        await redis.flushall()
        line = await visitor.expect("message", conversation_id=conv, text=BOT_LINE, timeout=20)
        assert line["from"]["role"] == "system"
    finally:
        await redis.aclose()
    data = await record(hub, bot, conv)
    assert [e["body"]["by"] for e in data["events"] if e["kind"] == "handoff"] == ["timeout"]


async def test_a_handoff_on_another_process_reaches_the_visitor(
    hub: Hub, receiver: Receiver
) -> None:
    bot = await make_bot(hub, receiver, servers=2)
    visitor, conv = await bot_chat(hub, bot, None)  # on the first process
    r = await call(
        hub.servers[1],
        "POST",
        f"/api/v1/conversations/{conv}/handoff",
        key=bot.key.secret,
        json={"summary": "needs a person"},
    )
    assert r.status_code == 201, r.text
    await visitor.expect("message", conversation_id=conv, text=BOT_LINE, timeout=10)
    # Nobody is online: it waits, and the visitor's process tells it its place.
    queue = await visitor.expect("queue", conversation_id=conv, timeout=10)
    assert queue["position"] == 1
    ann, _ = await hub.agent("ann", server=hub.servers[1])
    offer = await ann.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    await ann.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    person = await visitor.expect("assigned", conversation_id=conv, timeout=10)
    assert "bot" not in person["agent"]


async def test_admin_api_refuses_bad_bots_and_changes_nothing(hub: Hub, receiver: Receiver) -> None:
    bot = await make_bot(hub, receiver)
    admin = bot.admin
    plain = await make_key(hub.server, admin, "CRM", "read", "write")
    other = await make_key(hub.server, admin, "Other bot", "bot")
    good = {
        "name": "Otto",
        "endpoint_id": bot.webhook_id,
        "key_id": other.id,
        "topics": ["account"],
    }
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "topics": ["nope"]}, 422, "topics"),
        ({**good, "topics": ["billing"]}, 422, "topics"),  # Penny takes it
        ({**good, "key_id": plain.id}, 422, "key_id"),  # lacks the bot scope
        ({**good, "key_id": bot.key.id}, 422, "key_id"),  # speaks for Penny
        ({**good, "endpoint_id": "nope"}, 422, "endpoint_id"),
        ({**good, "name": "   "}, 422, "name"),
        ({**good, "answer_timeout_s": 0}, 422, "body.answer_timeout_s"),
        ({**good, "name": "Penny"}, 409, ""),
    ]
    for body, status, field in cases:
        r = await api(hub.server, "POST", "/api/v1/admin/bots", token=admin, json=body)
        assert r.status_code == status, (body, r.text)
        if field:
            assert r.json()["field"] == field, r.text
    r = await api(hub.server, "GET", "/api/v1/admin/bots", token=admin)
    assert [b["name"] for b in r.json()["bots"]] == ["Penny"]
    # Not an admin: refused. From another site's page: refused.
    agent_token = await hub.login("ann")
    r = await api(hub.server, "POST", "/api/v1/admin/bots", token=agent_token, json=good)
    assert r.status_code == 403, r.text
    # The endpoint a bot hears through cannot be deleted from under it.
    r = await api(hub.server, "DELETE", f"/api/v1/admin/webhooks/{bot.webhook_id}", token=admin)
    assert r.status_code == 409 and "Penny" in r.json()["message"], r.text
    # Disabled, its topic goes to the agents at once (within the bots' cache time).
    r = await api(
        hub.server, "PATCH", f"/api/v1/admin/bots/{bot.id}", token=admin, json={"enabled": False}
    )
    assert r.status_code == 200 and r.json()["bot"]["enabled"] is False, r.text
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "billing", "language": "en"}, expect="queued"
    )
    data = await record(hub, bot, queued["conversation_id"])
    assert data["conversation"]["bot_id"] is None and data["conversation"]["status"] == "queued"
    r = await api(hub.server, "DELETE", f"/api/v1/admin/bots/{bot.id}", token=admin)
    assert r.status_code == 204, r.text
    r = await api(hub.server, "GET", f"/api/v1/admin/bots/{bot.id}", token=admin)
    assert r.status_code == 404, r.text
