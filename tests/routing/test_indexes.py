"""The per-class indexes behind bounded decisions (docs/routing.md, "Requirement classes")."""

from __future__ import annotations

import redis.asyncio as aioredis

from routing import ConversationRequest, Router, RoutingConfig
from tests.routing.conftest import T0, online
from tests.routing.index_check import _s, index_problems


def req(
    cid: str, topic: str = "general", language: str = "en", **kw: object
) -> ConversationRequest:
    return ConversationRequest(cid, topic, language, **kw)  # type: ignore[arg-type]


async def test_a_decision_reads_ten_agents_of_a_large_floor(router: Router) -> None:
    batch = router.batch()
    for i in range(300):
        batch.upsert_agent(f"a{i:03d}", {"billing": 3, "en": 3}, 2, T0)
        batch.set_status(f"a{i:03d}", "online", T0 + i / 1000)
    for i in range(40):  # some of the pool is away, some below the level
        batch.upsert_agent(f"low{i:02d}", {"billing": 3, "en": 1}, 2, T0)  # en 1 < 2
        batch.set_status(f"low{i:02d}", "online", T0)
        batch.upsert_agent(f"away{i:02d}", {"billing": 3, "en": 3}, 2, T0)
    await batch.execute()
    result = await router.request(req("c1", "billing", avoid=("a000",)), T0 + 10)
    assert result.offer is not None and result.offer.agent_id == "a001"  # a000 avoided
    record = (await router.explain("c1"))[-1]
    assert record["evaluated"] <= 11  # the winner, 9 runners-up, the avoided one met on the way
    ids = [c["agent_id"] for c in record["candidates"]]
    assert ids == [f"a{i:03d}" for i in range(1, 11)] + ["a000"]  # rank order: longest idle
    assert record["candidates_total"] == 380
    assert record["excluded"] == {"not_online": 40, "below_level": 40, "avoided": 1}
    assert record["eligible"] == 299
    assert sum(record["excluded"].values()) + record["eligible"] == record["candidates_total"]


async def test_a_freed_agent_takes_the_first_it_is_eligible_for(router: Router) -> None:
    await online(router, "x", {"general": 3, "en": 3, "billing": 3}, 1, T0)
    busy = await router.request(req("busy"), T0)
    assert busy.offer is not None
    await router.accept(busy.offer.offer_id, "x", T0)
    await router.request(req("w1", avoid=("x",)), T0 + 1)  # first, but not for x
    await router.request(req("w2", "billing"), T0 + 2)  # another topic's queue
    await router.request(req("w3"), T0 + 3)
    offers = await router.release("busy", T0 + 4)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("w2", "x")]


async def test_state_from_before_the_indexes_is_indexed_on_first_use(
    redis: aioredis.Redis, router: Router, config: RoutingConfig
) -> None:
    """A Redis holding state written before the class indexes existed (an upgrade in place):
    the first call builds them from the agents' and conversations' own records."""
    await online(router, "x", {"general": 3, "en": 3}, 1, T0)
    await online(router, "y", {"billing": 3, "en": 3}, 2, T0)
    await router.upsert_agent("z", {"general": 3, "en": 3}, 1, T0)
    await router.set_status("z", "away", T0)
    busy = await router.request(req("busy"), T0)
    assert busy.offer is not None
    await router.accept(busy.offer.offer_id, "x", T0)
    for i in range(3):
        assert (await router.request(req(f"w{i}"), T0 + i)).status == "queued"
    # Back to the old layout: no classes, per-skill sets, sums, arrival queues or markers.
    legacy = [
        k
        for pattern in ("co:*", "cf:*", "cw:*", "on:*", "qa:*")
        for k in await redis.keys(f"{{cs}}:{pattern}")
    ]
    await redis.delete("{cs}:classes", "{cs}:ccap", "{cs}:sk", "{cs}:away", "{cs}:heads", *legacy)
    for key in await redis.keys("{cs}:agent:*"):
        if _s(key).count(":") == 2:
            await redis.hdel(key, "cls", "sks")
    for key in await redis.keys("{cs}:conv:*"):
        await redis.hdel(key, "cls")
    for key in await redis.keys("{cs}:config:*"):
        await redis.hdel(key, "ready")
    assert (await router.stats(T0 + 5))["topics"]["general"]["agents_online"] == 0  # lost
    offers = await router.release("busy", T0 + 5)  # x frees: it must find w0
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("w0", "x")]
    assert await index_problems(redis, config, round((T0 + 5) * 1000)) == []
    stats = await router.stats(T0 + 5)
    assert stats["topics"]["general"]["agents_online"] == 1
    assert stats["totals"]["agents_away"] == 1 and stats["totals"]["waiting"] == 2
    # H = 5 s (busy was held 5 s), C = 1 (x): ceil(position × 5 / 1)
    assert await router.positions(["w1", "w2"], T0 + 5) == {"w1": (1, 5), "w2": (2, 10)}


async def test_the_live_floor_lists_the_longest_waiting_and_counts_the_rest(
    router: Router,
) -> None:
    """What the supervisor's dashboard polls: bounded however long the queue."""
    from chatserver.web.dashboard_figures import floor

    await online(router, "x", {"general": 3, "en": 3}, 2, T0)
    held = await router.request(req("held"), T0)
    offered = await router.request(req("offered"), T0 + 1)
    assert held.offer is not None and offered.offer is not None
    await router.accept(held.offer.offer_id, "x", T0 + 1)
    for i in range(12):
        await router.request(req(f"w{i:02d}", "billing" if i % 3 else "general"), T0 + 10 + i)
    snap = await router.live_floor(T0 + 100, limit=5, sla_wait_s=85)
    listed = {c["conversation_id"]: c["state"] for c in snap["conversations"]}
    assert listed == {
        "held": "active",
        "offered": "offered",
        **{f"w{i:02d}": "waiting" for i in range(5)},  # the five longest waiting, any topic
    }
    # general: w00 w03 w06 w09 (waited 90, 87, 84, 81 s); billing: w01 w02 w04 w05 … (89, 88,
    # 86, 85 …): over 85 s, two and three.
    assert snap["counts"]["general"] == {
        "queued": 4,
        "oldest": round((T0 + 10) * 1000),
        "breaching": 2,
    }
    assert snap["counts"]["billing"] == {
        "queued": 8,
        "oldest": round((T0 + 11) * 1000),
        "breaching": 3,
    }
    assert snap["active"] == 1
    got = floor(snap, ("general", "billing"), {}, now_ms=round((T0 + 100) * 1000), sla_wait_s=85)
    assert got["totals"]["waiting"] == 13  # 12 queued and the offered one
    assert got["totals"]["breaches"] == 6  # those five and the offered one (99 s)
    assert got["totals"]["longest_wait_s"] == 99.0 and got["totals"]["active"] == 1
    assert [row["waiting"] for row in got["topics"]] == [5, 8]
    assert len(got["waiting"]) == 6
