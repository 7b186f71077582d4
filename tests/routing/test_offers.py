"""Rule 4: offers, deadlines, accept, decline, timeout, cooldown, expiry exactly once."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from routing import (
    ConversationRequest,
    NotYourOffer,
    OfferExpired,
    OfferNotFound,
    Router,
    RoutingConfig,
)
from tests.routing.conftest import T0, EventLog, make_config, online, tick
from tests.support.redis_server import RedisServer


def req(cid: str, topic: str = "general", language: str = "en") -> ConversationRequest:
    return ConversationRequest(cid, topic, language, meta={"visitor": "Ann", "preview": "hi"})


async def test_rule4_offer_reserves_and_accept_activates(router: Router, events: EventLog) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    result = await router.request(req("c1"), T0 + 1)
    offer = result.offer
    assert offer is not None and offer.deadline == T0 + 1 + 30  # default 30 s
    assert offer.meta == {"visitor": "Ann", "preview": "hi"}
    state = await router.agent("a")
    assert state is not None and (state.load, state.reserved, state.active) == (1, ["c1"], [])
    assert await router.pending_offers("a") == [offer]
    assert await router.conversation_agent("c1") is None
    assignment = await router.accept(offer.offer_id, "a", T0 + 5)
    assert (assignment.conversation_id, assignment.agent_id) == ("c1", "a")
    assert assignment.explanation["kind"] == "offer" and assignment.explanation["winner"] == "a"
    state = await router.agent("a")
    assert state is not None and (state.load, state.reserved, state.active) == (1, [], ["c1"])
    assert await router.conversation_agent("c1") == "a"
    # accepting twice is harmless
    again = await router.accept(offer.offer_id, "a", T0 + 6)
    assert again.offer_id == offer.offer_id
    evs = await events.drain()
    offered = events.of("offered", evs)[0]
    assert offered["deadline"] == T0 + 31 and offered["expires_in_s"] == 30
    assert offered["node"] == "n1" and offered["meta"] == {"visitor": "Ann", "preview": "hi"}
    assert events.of("assigned", evs) == [
        {
            "type": "assigned",
            "conversation_id": "c1",
            "agent_id": "a",
            "offer_id": offer.offer_id,
            "ts": T0 + 5,
        }
    ]


async def test_rule4_timeout_is_configurable(redis: aioredis.Redis) -> None:
    r = Router(redis, make_config(offer_timeout_s=5), node_id="n1")
    await online(r, "a", {"general": 1, "en": 1}, 1, T0)
    result = await r.request(req("c1"), T0)
    assert result.offer is not None and result.offer.deadline == T0 + 5


async def test_rule4_decline_reroutes_to_another_agent(router: Router, events: EventLog) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 1)
    first = (await router.request(req("c1"), T0 + 2)).offer
    assert first is not None and first.agent_id == "a"
    offers = await router.decline(first.offer_id, "a", T0 + 3)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "b")]
    evs = await events.drain()
    withdrawn = events.of("offer_withdrawn", evs)
    assert withdrawn == [
        {
            "type": "offer_withdrawn",
            "offer_id": first.offer_id,
            "conversation_id": "c1",
            "agent_id": "a",
            "node": "n1",
            "reason": "declined",
            "ts": T0 + 3,
        }
    ]
    record = (await router.explain("c1"))[-1]
    cand = {c["agent_id"]: c["excluded"] for c in record["candidates"]}
    assert cand["a"] == "declined earlier" and record["winner"] == "b"
    with pytest.raises(OfferNotFound, match=r"withdrawn \(declined\)"):
        await router.accept(first.offer_id, "a", T0 + 4)


async def test_rule4_timeout_reroutes_and_late_accept_fails(
    router: Router, events: EventLog
) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 1)
    first = (await router.request(req("c1"), T0 + 2)).offer
    assert first is not None and first.agent_id == "a"
    assert (await tick(router, T0 + 31.9)).expired == []
    result = await tick(router, T0 + 32)
    assert [o.offer_id for o in result.expired] == [first.offer_id]
    assert [(o.conversation_id, o.agent_id) for o in result.offers] == [("c1", "b")]
    with pytest.raises(OfferExpired, match=r"^offer expired 2\.1 s ago$") as info:
        await router.accept(first.offer_id, "a", T0 + 34.1)
    assert info.value.expired_ago_s == pytest.approx(2.1)
    assert info.value.code == "conflict"
    reasons = [e["reason"] for e in events.of("offer_withdrawn", await events.drain())]
    assert reasons == ["expired"]


async def test_rule4_accept_after_deadline_before_any_tick(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 1)
    offer = (await router.request(req("c1"), T0 + 2)).offer
    assert offer is not None
    await router.heartbeat(T0 + 32)
    with pytest.raises(OfferExpired, match=r"^offer expired 0\.0 s ago$"):
        await router.accept(offer.offer_id, "a", T0 + 32)
    # The accept processed the expiry itself: c1 went to b, and no tick finds it again.
    assert await router.pending_offers("b") != []
    assert (await tick(router, T0 + 33)).expired == []


async def test_rule4_wrong_agent_and_unknown_offer(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    offer = (await router.request(req("c1"), T0)).offer
    assert offer is not None
    with pytest.raises(NotYourOffer):
        await router.accept(offer.offer_id, "mallory", T0 + 1)
    with pytest.raises(NotYourOffer):
        await router.decline(offer.offer_id, "mallory", T0 + 1)
    with pytest.raises(OfferNotFound) as info:
        await router.accept("no-such-offer", "a", T0 + 1)
    assert info.value.code == "not_found"
    await router.accept(offer.offer_id, "a", T0 + 2)
    with pytest.raises(OfferNotFound, match="already accepted"):
        await router.decline(offer.offer_id, "a", T0 + 3)


async def test_rule4_sole_eligible_agent_gets_it_again(router: Router) -> None:
    """'avoiding that agent while another eligible agent exists': nobody else → same agent."""
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    offer = (await router.request(req("c1"), T0)).offer
    assert offer is not None
    offers = await router.decline(offer.offer_id, "a", T0 + 1)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "a")]


async def test_rule4_cooldown_waits_for_another_agent_then_ends(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 1)
    busy = (await router.request(req("busy"), T0 + 2)).offer  # → a
    offer = (await router.request(req("c1"), T0 + 3)).offer  # → b
    assert busy is not None and offer is not None and offer.agent_id == "b"
    await router.accept(busy.offer_id, "a", T0 + 3)
    # b declines: a (busy) could take c1, so b is avoided for reoffer_cooldown_s = 30 s.
    assert await router.decline(offer.offer_id, "b", T0 + 4) == []
    assert await router.position("c1", T0 + 4) == (1, 150)
    assert (await tick(router, T0 + 33.9)).offers == []
    result = await tick(router, T0 + 34)  # cooldown over: b may have it again
    assert [(o.conversation_id, o.agent_id) for o in result.offers] == [("c1", "b")]


async def test_rule4_two_missed_offers_in_a_row_set_the_agent_away(
    router: Router, events: EventLog
) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    first = (await router.request(req("c1"), T0)).offer
    assert first is not None
    await tick(router, T0 + 30)  # 1st miss: c1 comes straight back to a (nobody else)
    second = (await router.pending_offers("a"))[0]
    assignment = await router.accept(second.offer_id, "a", T0 + 31)  # answering resets it
    assert assignment.conversation_id == "c1"
    third = (await router.request(req("c2"), T0 + 32)).offer
    assert third is not None
    await tick(router, T0 + 62)  # 1st miss again
    fourth = (await router.pending_offers("a"))[0]
    await tick(router, T0 + 92)  # 2nd in a row → away
    state = await router.agent("a")
    assert state is not None and state.status == "away" and state.reserved == []
    assert fourth.conversation_id == "c2"
    assert await router.position("c2", T0 + 92) == (1, None)
    presence = events.of("presence", await events.drain())
    assert presence[-1] == {
        "type": "presence",
        "agent_id": "a",
        "status": "away",
        "node": "n1",
        "reason": "missed_offers",
        "ts": T0 + 92,
    }


async def test_rule4_expiry_is_processed_exactly_once(
    redis_server: RedisServer, config: RoutingConfig
) -> None:
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(4)]
    try:
        await clients[0].flushall()
        routers = [Router(c, config, node_id=f"n{i}") for i, c in enumerate(clients)]
        for i in range(6):
            await online(routers[0], f"a{i}", {"general": 1, "en": 1}, 1, T0)
        for i in range(6):
            await routers[0].request(req(f"c{i}"), T0 + 1)
        for r in routers:
            await r.heartbeat(T0 + 31)
        results = await asyncio.gather(*(r.tick(T0 + 31) for r in routers for _ in range(5)))
        expired = [o.offer_id for res in results for o in res.expired]
        assert len(expired) == 6 and len(set(expired)) == 6
    finally:
        for c in clients:
            await c.aclose()
