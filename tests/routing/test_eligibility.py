"""Rules 1 and 2: who is eligible, and which eligible agent wins."""

from __future__ import annotations

from routing import ConversationRequest, Router
from tests.routing.conftest import T0, online


def req(
    cid: str, topic: str = "billing", language: str = "en", **kw: object
) -> ConversationRequest:
    return ConversationRequest(cid, topic, language, **kw)  # type: ignore[arg-type]


async def test_rule1_only_an_eligible_agent_is_offered(router: Router) -> None:
    await online(router, "away1", {"billing": 5, "en": 5}, 3, T0)
    await router.set_status("away1", "away", T0)
    await router.upsert_agent("off1", {"billing": 5, "en": 5}, 3, T0)  # never online
    await online(router, "noskill", {"billing": 5}, 3, T0)
    await online(router, "lowlevel", {"billing": 5, "en": 1}, 3, T0)
    await online(router, "full", {"billing": 5, "en": 5, "general": 1}, 1, T0)
    await online(router, "avoided", {"billing": 5, "en": 5}, 3, T0)
    await online(router, "ok", {"billing": 2, "en": 2}, 3, T0)
    first = await router.request(req("c0", "general"), T0)  # only "full" has general
    assert first.offer is not None and first.offer.agent_id == "full"
    result = await router.request(req("c1", avoid=("avoided",)), T0 + 1)
    assert result.status == "offered"
    assert result.offer is not None and result.offer.agent_id == "ok"
    assert result.agents_online == 5  # online with the billing skill at any level
    records = await router.explain("c1")
    assert records[-1]["kind"] == "offer" and records[-1]["winner"] == "ok"
    # The seven agents with the billing skill: each excluded one counted under its reason
    # (away1, off1: not online; noskill, lowlevel: skills below the class; full; avoided).
    assert records[-1]["candidates_total"] == 7
    assert records[-1]["excluded"] == {"not_online": 2, "below_level": 2, "full": 1, "avoided": 1}
    assert records[-1]["eligible"] == 1
    # The ranked agents read: the eligible ones first, then those the conversation excludes.
    cands = {c["agent_id"]: c for c in records[-1]["candidates"]}
    assert [c["agent_id"] for c in records[-1]["candidates"]] == ["ok", "avoided"]
    assert cands["avoided"]["excluded"] == "avoided"
    assert records[-1]["evaluated"] == 2
    assert cands["ok"] == {
        "agent_id": "ok",
        "load": 0,
        "capacity": 3,
        "ratio": 0,
        "idle_s": 1,
        "eligible": True,
        "excluded": None,
    }
    assert records[-1]["required"] == {"billing": 2, "en": 2}


async def test_rule1_full_agent_is_not_offered(router: Router) -> None:
    await online(router, "a", {"billing": 3, "en": 3}, 1, T0)
    assert (await router.request(req("c1"), T0)).status == "offered"
    result = await router.request(req("c2"), T0 + 1)
    assert result.status == "queued" and result.position == 1
    record = (await router.explain("c2"))[-1]
    assert record["kind"] == "queued"
    assert record["excluded"] == {"full": 1}
    assert record["candidates"] == [] and record["eligible"] == 0
    assert record["winner"] is None


async def test_rule2_lowest_load_ratio_first(router: Router) -> None:
    await online(router, "big", {"general": 1, "en": 1}, 4, T0)
    await online(router, "small", {"general": 1, "en": 1}, 2, T0 + 1)
    # big is idle longer and gets the first; then big is 1/4 = 0.25 and small 0/2 → small.
    r1 = await router.request(req("c1", "general"), T0 + 2)
    r2 = await router.request(req("c2", "general"), T0 + 3)
    # now big 1/4, small 1/2 → big; then big 2/4 = small 1/2: tie → longest idle (big).
    r3 = await router.request(req("c3", "general"), T0 + 4)
    r4 = await router.request(req("c4", "general"), T0 + 5)
    got = [r.offer.agent_id for r in (r1, r2, r3, r4) if r.offer]
    assert got == ["big", "small", "big", "big"]


async def test_rule2_ties_broken_by_idle_then_id(router: Router) -> None:
    await online(router, "b", {"general": 1, "en": 1}, 2, T0)
    await online(router, "a", {"general": 1, "en": 1}, 2, T0 + 5)
    await online(router, "c", {"general": 1, "en": 1}, 2, T0 + 5)
    r1 = await router.request(req("c1", "general"), T0 + 10)
    assert r1.offer is not None and r1.offer.agent_id == "b"  # longest idle
    r2 = await router.request(req("c2", "general"), T0 + 10)
    assert r2.offer is not None and r2.offer.agent_id == "a"  # same ratio and idle: id
    r3 = await router.request(req("c3", "general"), T0 + 10)
    assert r3.offer is not None and r3.offer.agent_id == "c"
    # A freed agent's idle clock restarts: after b releases, b has the shortest idle.
    await router.accept(r1.offer.offer_id, "b", T0 + 11)
    await router.release("c1", T0 + 20)
    await router.accept(r2.offer.offer_id, "a", T0 + 21)
    await router.release("c2", T0 + 22)
    await router.accept(r3.offer.offer_id, "c", T0 + 23)
    await router.release("c3", T0 + 24)
    r4 = await router.request(req("c4", "general"), T0 + 30)
    assert r4.offer is not None and r4.offer.agent_id == "b"
    record = (await router.explain("c4"))[-1]
    assert record["winner"] == "b"
    assert [c["agent_id"] for c in record["candidates"]] == ["b", "a", "c"]
    assert [c["idle_s"] for c in record["candidates"]] == [10, 8, 6]


async def test_rule2_is_deterministic_across_routers(redis: object, config: object) -> None:
    """Same state, same decision, whichever hub node asks."""
    import redis.asyncio as aioredis

    from routing import RoutingConfig

    assert isinstance(redis, aioredis.Redis) and isinstance(config, RoutingConfig)
    winners = []
    for node in ("n1", "n2", "n3"):
        await redis.flushall()
        r = Router(redis, config, node_id=node)
        for agent in ("x", "y", "z"):
            await online(r, agent, {"general": 1, "en": 1}, 1, T0)
        result = await r.request(req("c1", "general"), T0 + 1)
        assert result.offer is not None
        winners.append(result.offer.agent_id)
    assert winners == ["x", "x", "x"]
