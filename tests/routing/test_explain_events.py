"""Rules 9 and 10: every decision is explained; every change is published."""

from __future__ import annotations

import redis.asyncio as aioredis

from routing import ConversationRequest, Router
from tests.routing.conftest import T0, EventLog, online, tick
from tests.support.redis_server import RedisServer

FIELDS = {
    "offered": {
        "offer_id",
        "conversation_id",
        "agent_id",
        "node",
        "deadline",
        "expires_in_s",
        "topic",
        "language",
        "arrived_at",
        "meta",
    },
    "offer_withdrawn": {"offer_id", "conversation_id", "agent_id", "node", "reason"},
    "assigned": {"conversation_id", "agent_id", "offer_id"},
    "queue": {"conversation_id", "position", "eta_s"},
    "dequeued": {"conversation_id"},
    "presence": {"agent_id", "status", "node"},
    "requeued": {"conversation_id", "agent_id", "reason"},
    "released": {"conversation_id", "agent_id"},
}


async def test_rule9_every_decision_is_explained(router: Router) -> None:
    await online(router, "en2", {"billing": 2, "en": 2}, 1, T0)
    await online(router, "en1", {"billing": 4, "en": 1}, 1, T0 + 1)
    await router.upsert_agent("off", {"billing": 5, "en": 5}, 2, T0)
    busy = (await router.request(ConversationRequest("busy", "billing", "en"), T0 + 2)).offer
    assert busy is not None and busy.agent_id == "en2"
    await router.accept(busy.offer_id, "en2", T0 + 2)
    await router.request(ConversationRequest("c1", "billing", "en"), T0 + 3)
    offers = (await tick(router, T0 + 63)).offers  # step 1: English level 1 will do
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "en1")]
    assignment = await router.accept(offers[0].offer_id, "en1", T0 + 64)
    await router.release("c1", T0 + 100)
    records = await router.explain("c1")
    assert [r["kind"] for r in records] == ["queued", "offer", "accepted", "released"]
    queued, offer = records[0], records[1]
    assert queued == {
        "ts": T0 + 3,
        "kind": "queued",
        "step": 0,
        "required": {"billing": 2, "en": 2},
        "winner": None,
        "candidates_total": 3,  # the agents with the billing skill
        "evaluated": 0,  # none with room meets the class: nothing to read
        "eligible": 0,
        "excluded": {"not_online": 1, "below_level": 1, "full": 1},  # off; en1 (en 1 < 2); en2
        "candidates": [],
    }
    assert (offer["step"], offer["required"], offer["winner"]) == (
        1,
        {"billing": 2, "en": 1},
        "en1",
    )
    assert offer["excluded"] == {"not_online": 1, "full": 1}
    assert offer["candidates"] == [
        {
            "agent_id": "en1",
            "load": 0,
            "capacity": 1,
            "ratio": 0,
            "idle_s": 62,  # online at T0 + 1, offered at T0 + 63
            "eligible": True,
            "excluded": None,
        }
    ]
    assert assignment.explanation == offer
    assert records[3]["handle_s"] == 36


async def test_rule9_only_the_last_20_records_are_kept(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    offer = (await router.request(ConversationRequest("c1", "general", "en"), T0)).offer
    for i in range(15):  # each decline: withdrawn + offer again (a is the only agent)
        assert offer is not None
        offer = (await router.decline(offer.offer_id, "a", T0 + i + 1))[0]
    records = await router.explain("c1")
    assert len(records) == 20
    assert records[-1]["kind"] == "offer" and records[-1]["ts"] == T0 + 15
    assert await router.explain("never-seen") == []


async def test_rule10_events_carry_the_documented_fields(router: Router, events: EventLog) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    first = (await router.request(ConversationRequest("c1", "general", "en"), T0 + 1)).offer
    assert first is not None
    await router.request(ConversationRequest("c2", "general", "en"), T0 + 2)
    await router.accept(first.offer_id, "a", T0 + 3)
    await router.release("c1", T0 + 4)  # c2 leaves the queue: offered
    await tick(router, T0 + 34)  # c2's offer expires, comes back to a
    await router.set_status("a", "offline", T0 + 35)  # withdrawn: agent_offline
    await router.set_status("a", "online", T0 + 36)
    pending = await router.pending_offers("a")
    await router.accept(pending[0].offer_id, "a", T0 + 37)
    await router.set_status("a", "offline", T0 + 38)
    await tick(router, T0 + 68)  # grace over: requeued
    evs = await events.drain()
    seen = {e["type"] for e in evs}
    assert seen == set(FIELDS)
    for e in evs:
        assert set(e) == FIELDS[e["type"]] | {"type", "ts"} | (
            {"reason"} if e["type"] == "presence" and "reason" in e else set()
        ), e
        assert isinstance(e["ts"], int | float)


async def test_rule10_any_subscriber_receives_the_events(
    router: Router, events: EventLog, redis_server: RedisServer
) -> None:
    other = aioredis.Redis.from_url(redis_server.url)  # e.g. another hub process
    log = EventLog(other, router.events_channel)
    await log.start()
    try:
        await online(router, "a", {"general": 1, "en": 1}, 1, T0)
        assert [e["type"] for e in await log.drain()] == ["presence"]
        assert [e["type"] for e in await events.drain()] == ["presence"]
    finally:
        await log.close()
        await other.aclose()
