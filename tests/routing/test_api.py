"""The rest of the public API: transfer, restore, cancel, idempotency, validation, stats."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from routing import (
    AgentUnavailable,
    ConfigError,
    ConversationRequest,
    Router,
    RoutingConfig,
    RoutingError,
    UnknownAgent,
    UnknownConversation,
)
from tests.routing.conftest import T0, EventLog, online, tick
from tests.support.redis_server import RedisServer


def req(
    cid: str, topic: str = "general", language: str = "en", **kw: object
) -> ConversationRequest:
    return ConversationRequest(cid, topic, language, **kw)  # type: ignore[arg-type]


async def held(router: Router, cid: str, agent: str, now: float, topic: str = "general") -> None:
    result = await router.request(req(cid, topic, preferred_agent=agent), now)
    assert result.offer is not None and result.offer.agent_id == agent, result
    await router.accept(result.offer.offer_id, agent, now)


async def test_transfer_to_a_named_agent(router: Router, events: EventLog) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "expert", {"billing": 5}, 1, T0)  # no general skill: a human chose
    await held(router, "c1", "a", T0)
    await router.request(req("c2"), T0 + 1)  # waits for a
    result = await router.transfer("c1", T0 + 2, to_agent="expert")
    assert result.status == "offered" and result.offer is not None
    assert (result.offer.agent_id, result.offer.arrived_at) == ("expert", T0)
    assert (await router.pending_offers("a"))[0].conversation_id == "c2"  # a was freed
    evs = await events.drain()
    assert events.of("requeued", evs)[0] == {
        "type": "requeued",
        "conversation_id": "c1",
        "agent_id": "a",
        "reason": "transfer",
        "ts": T0 + 2,
    }
    assert (await router.explain("c1"))[-1]["kind"] == "transfer"
    # Declined: c1 waits — a (the previous holder) is avoided, nobody else has the skills.
    assert await router.decline(result.offer.offer_id, "expert", T0 + 3) == []
    assert await router.position("c1", T0 + 3) == (1, 300)


async def test_transfer_target_must_be_online_with_room(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "full", {"general": 1, "en": 1}, 1, T0)
    await online(router, "away", {"general": 1, "en": 1}, 1, T0)
    await router.set_status("away", "away", T0)
    await held(router, "c1", "a", T0)
    await held(router, "c0", "full", T0)
    with pytest.raises(AgentUnavailable, match="away is away") as info:
        await router.transfer("c1", T0 + 1, to_agent="away")
    assert info.value.code == "unavailable"
    with pytest.raises(AgentUnavailable, match="full is full 1/1"):
        await router.transfer("c1", T0 + 1, to_agent="full")
    with pytest.raises(AgentUnavailable, match="already holds"):
        await router.transfer("c1", T0 + 1, to_agent="a")
    with pytest.raises(UnknownAgent):
        await router.transfer("c1", T0 + 1, to_agent="nobody")
    with pytest.raises(UnknownConversation):
        await router.transfer("nope", T0 + 1, to_agent="a")
    with pytest.raises(ConfigError, match="unknown topic"):
        await router.transfer("c1", T0 + 1, to_topic="nope")
    assert await router.conversation_agent("c1") == "a"  # nothing changed


async def test_transfer_to_a_topic_keeps_arrival_and_avoids_the_holder(router: Router) -> None:
    await online(router, "a", {"general": 1, "billing": 5, "en": 5}, 2, T0)
    await online(router, "b", {"billing": 2}, 1, T0)  # no English: eligible from step 2 on
    await held(router, "c1", "a", T0)
    early = await router.transfer("c1", T0 + 10, to_topic="billing")
    assert (early.status, early.position) == ("queued", 1)  # a is avoided, b lacks English
    record = (await router.explain("c1"))[-1]
    assert {c["agent_id"]: c["excluded"] for c in record["candidates"]}["a"] == "avoided"
    offers = (await tick(router, T0 + 120)).offers  # 120 s since the original arrival
    assert [(o.conversation_id, o.agent_id, o.topic) for o in offers] == [("c1", "b", "billing")]


async def test_transfer_back_to_the_queue(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 1)
    await held(router, "c1", "a", T0 + 2)
    result = await router.transfer("c1", T0 + 3)
    assert result.status == "offered" and result.offer is not None
    assert result.offer.agent_id == "b" and result.agents_online == 2


async def test_restore_assignment_after_redis_lost_its_data(
    router: Router, redis: aioredis.Redis
) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await held(router, "c1", "a", T0)
    await redis.flushall()  # Redis lost everything
    await router.heartbeat(T0 + 5)
    await online(router, "a", {"general": 1, "en": 1}, 1, T0 + 5)
    await router.restore_assignment(req("c1"), "a", T0 + 5)
    await router.restore_assignment(req("c1"), "a", T0 + 5)  # idempotent
    state = await router.agent("a")
    assert state is not None and (state.load, state.active) == (1, ["c1"])
    assert await router.conversation_agent("c1") == "a"
    assert (await router.request(req("c2"), T0 + 6)).status == "queued"
    offers = await router.release("c1", T0 + 7)
    assert [o.conversation_id for o in offers] == ["c2"]
    with pytest.raises(UnknownAgent):
        await router.restore_assignment(req("c3"), "nobody", T0 + 8)
    with pytest.raises(RoutingError, match="already exists"):
        await router.restore_assignment(req("c2"), "a", T0 + 8)


async def test_restore_for_an_offline_agent_requeues_after_grace(router: Router) -> None:
    await router.upsert_agent("a", {"general": 1, "en": 1}, 1, T0)
    await router.restore_assignment(req("c1"), "a", T0)
    assert (await tick(router, T0 + 30)).requeued == ["c1"]


async def test_cancel_while_waiting_or_offered(router: Router, events: EventLog) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    offered = (await router.request(req("c1"), T0)).offer
    assert offered is not None
    await router.request(req("c2"), T0 + 1)
    await router.request(req("c3"), T0 + 2)
    assert await router.cancel("c2", T0 + 3) == []
    assert await router.position("c3", T0 + 3) == (1, 300)
    offers = await router.cancel("c1", T0 + 4)  # withdraws a's offer; a takes c3
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c3", "a")]
    evs = await events.drain()
    assert [e["conversation_id"] for e in events.of("dequeued", evs)] == ["c2", "c3"]
    assert [(e["conversation_id"], e["reason"]) for e in events.of("offer_withdrawn", evs)] == [
        ("c1", "cancelled")
    ]
    with pytest.raises(UnknownConversation):
        await router.cancel("c1", T0 + 5)
    with pytest.raises(UnknownConversation):
        await router.release("c2", T0 + 5)
    assert (await router.stats(T0 + 5))["counters"]["abandoned"] == 2


async def test_request_is_idempotent_while_waiting_or_offered(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    first = await router.request(req("c1"), T0)
    assert await router.request(req("c1"), T0 + 1) == first
    waiting = await router.request(req("c2"), T0 + 2)
    assert await router.request(req("c2"), T0 + 3) == waiting
    assert first.offer is not None
    await router.accept(first.offer.offer_id, "a", T0 + 4)
    with pytest.raises(RoutingError, match="already active"):
        await router.request(req("c1"), T0 + 5)


async def test_validation_errors(router: Router) -> None:
    with pytest.raises(ConfigError, match="unknown topic 'sales'"):
        await router.request(req("c1", "sales"), T0)
    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        await router.request(req("c1", language="fr"), T0)
    with pytest.raises(RoutingError, match="priority"):
        await router.request(req("c1", priority=10_000), T0)
    with pytest.raises(RoutingError, match="now must be"):
        await router.request(req("c1"), float("nan"))
    with pytest.raises(RoutingError, match=r"level must be 1\.\.5"):
        await router.upsert_agent("a", {"general": 9}, 1, T0)
    with pytest.raises(RoutingError, match="capacity"):
        await router.upsert_agent("a", {"general": 1}, -1, T0)
    with pytest.raises(UnknownAgent, match="unknown agent ghost"):
        await router.set_status("ghost", "online", T0)
    with pytest.raises(UnknownAgent):
        await router.set_capacity("ghost", 3, T0)
    with pytest.raises(RoutingError, match="status must be"):
        await router.set_status("a", "busy", T0)  # type: ignore[arg-type]


async def test_upsert_keeps_status_and_load(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    await held(router, "c1", "a", T0)
    await router.upsert_agent("a", {"general": 3, "es": 2}, 2, T0 + 1)
    state = await router.agent("a")
    assert state is not None
    assert (state.status, state.load, state.skills, state.node) == (
        "online",
        1,
        {"general": 3, "es": 2},
        "n1",
    )
    assert await router.agent("nobody") is None
    assert [a.agent_id for a in await router.agents()] == ["a"]


async def test_lower_capacity_keeps_what_is_held(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    await held(router, "c1", "a", T0)
    await held(router, "c2", "a", T0)
    await router.set_capacity("a", 1, T0 + 1)
    assert (await router.request(req("c3"), T0 + 2)).status == "queued"
    assert await router.release("c1", T0 + 3) == []  # 1/1: still no room
    offers = await router.release("c2", T0 + 4)
    assert [o.conversation_id for o in offers] == ["c3"]


async def test_stats(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    await online(router, "b", {"billing": 3, "en": 3}, 1, T0)
    await router.set_status("b", "away", T0)
    await held(router, "c1", "a", T0)
    await router.release("c1", T0 + 40)
    await router.request(req("w1", "billing"), T0 + 50)
    stats = await router.stats(T0 + 60)
    assert stats["topics"]["general"] == {
        "waiting": 0,
        "longest_wait_s": 0.0,
        "agents_online": 1,
        "capacity": 2,
        "load": 0,
        "handle_time_s": 40.0,
    }
    assert stats["topics"]["billing"]["waiting"] == 1
    assert stats["topics"]["billing"]["longest_wait_s"] == 10.0
    assert stats["topics"]["billing"]["agents_online"] == 0
    assert stats["totals"] == {
        "waiting": 1,
        "offered": 0,
        "active": 0,
        "longest_wait_s": 10.0,
        "agents_online": 1,
        "agents_away": 1,
        "capacity": 2,
        "load": 0,
    }
    assert stats["counters"]["accepted"] == 1 and stats["counters"]["released"] == 1
    assert stats["nodes"] == {"n1": 60.0}


async def test_prefixes_isolate_deployments(redis: aioredis.Redis, config: RoutingConfig) -> None:
    one = Router(redis, config, node_id="n1", prefix="{one}")
    two = Router(redis, config, node_id="n1", prefix="{two}")
    await online(one, "a", {"general": 1, "en": 1}, 1, T0)
    assert (await two.request(req("c1"), T0)).status == "queued"
    assert (await one.request(req("c1"), T0)).status == "offered"
    assert two.events_channel == "{two}:events"
    with pytest.raises(ConfigError, match="hash tag"):
        Router(redis, config, node_id="n1", prefix="cs")


async def test_batch_sends_independent_calls_in_one_round_trip(router: Router) -> None:
    batch = router.batch()
    batch.upsert_agent("a", {"general": 1, "en": 1}, 2, T0).set_status("a", "online", T0)
    for i in range(3):
        batch.request(req(f"c{i}"), T0 + i)
    batch.set_status("ghost", "online", T0)  # fails on its own; the rest still runs
    assert len(batch) == 6
    results = await batch.execute()
    assert len(batch) == 0
    assert results[:2] == [[], []]
    routed = results[2:5]
    assert [r.status for r in routed] == ["offered", "offered", "queued"]
    assert isinstance(results[5], UnknownAgent)
    accepts = router.batch()
    for r in routed[:2]:
        assert r.offer is not None
        accepts.accept(r.offer.offer_id, "a", T0 + 5)
    assignments = await accepts.execute()
    assert [a.conversation_id for a in assignments] == ["c0", "c1"]
    released = await router.batch().release("c0", T0 + 6).tick(T0 + 6).execute()
    assert [o.conversation_id for o in released[0]] == ["c2"]
    assert released[1].expired == [] and await router.batch().execute() == []


async def test_works_with_a_decoding_client(
    redis_server: RedisServer, config: RoutingConfig
) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        await client.flushall()
        router = Router(client, config, node_id="n1")
        await online(router, "a", {"general": 1, "en": 1}, 1, T0)
        first = await router.request(req("c1"), T0)
        assert first.offer is not None
        assignment = await router.accept(first.offer.offer_id, "a", T0 + 1)
        assert assignment.explanation["winner"] == "a"
        await router.request(req("c2"), T0 + 2)
        assert await router.position("c2", T0 + 2) == (1, 300)
        assert await router.conversation_agent("c1") == "a"
        assert [r["kind"] for r in await router.explain("c1")] == ["offer", "accepted"]
        results = await router.batch().release("c1", T0 + 3).execute()
        assert [o.conversation_id for o in results[0]] == ["c2"]
    finally:
        await client.aclose()
