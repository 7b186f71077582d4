"""Rule 5: requirements relax with waiting time, per topic, step by step."""

from __future__ import annotations

import redis.asyncio as aioredis

from routing import ConversationRequest, Router
from tests.routing.conftest import T0, make_config, online, tick


def billing(cid: str, language: str = "en") -> ConversationRequest:
    return ConversationRequest(cid, "billing", language)


async def test_rule5_steps_apply_in_order(router: Router) -> None:
    await online(router, "x", {"billing": 2, "en": 1}, 1, T0)  # language level 1 only
    await online(router, "y", {"billing": 3}, 1, T0)  # no English at all
    await online(router, "z", {"billing": 1, "en": 5}, 1, T0)  # billing too low, forever
    assert (await router.request(billing("c1"), T0)).status == "queued"
    assert (await router.request(billing("c2"), T0 + 1)).status == "queued"
    assert (await tick(router, T0 + 59.999)).offers == []
    step1 = await tick(router, T0 + 60)
    assert [(o.conversation_id, o.agent_id) for o in step1.offers] == [("c1", "x")]
    await router.accept(step1.offers[0].offer_id, "x", T0 + 61)
    step2 = await tick(router, T0 + 121)
    assert [(o.conversation_id, o.agent_id) for o in step2.offers] == [("c2", "y")]
    records = await router.explain("c1")
    assert [(r["kind"], r.get("step"), r.get("required")) for r in records] == [
        ("queued", 0, {"billing": 2, "en": 2}),
        ("offer", 1, {"billing": 2, "en": 1}),
        ("accepted", None, None),
    ]
    kinds = [(r["kind"], r["step"]) for r in await router.explain("c2")]
    assert kinds == [("queued", 0), ("relaxed", 1), ("offer", 2)]
    last = (await router.explain("c2"))[-1]
    assert last["excluded"] == {"full": 1, "below_level": 1}  # x holds c1; z: billing 1 < 2


async def test_rule5_any_call_applies_due_steps(router: Router) -> None:
    """Relaxation is a function of time: any later call (not only tick) applies it."""
    await online(router, "x", {"billing": 2, "en": 1}, 1, T0)
    await router.request(billing("c1"), T0)
    result = await router.request(ConversationRequest("g1", "general", "ar"), T0 + 60)
    assert result.status == "queued"
    pending = await router.pending_offers("x")
    assert [o.conversation_id for o in pending] == ["c1"]


async def test_rule5_several_steps_due_at_once_keep_queue_order(router: Router) -> None:
    await online(router, "x", {"billing": 2, "es": 1}, 1, T0)
    await router.request(billing("late", "es"), T0 + 1)
    await router.request(billing("early", "es"), T0)  # arrived first, asked second
    result = await tick(router, T0 + 61)  # both reached step 1 since the last call
    assert [o.conversation_id for o in result.offers] == ["early"]


async def test_rule5_topic_level_can_relax_to_anyone(redis: aioredis.Redis) -> None:
    config = make_config(
        topics={
            "billing": {
                "topic_level": 3,
                "language_level": 1,
                "relax": [{"after_s": 30, "topic_level": 1}, {"after_s": 90, "topic_level": 0}],
            },
        }
    )
    r = Router(redis, config, node_id="n1")
    await r.heartbeat(T0)
    await online(r, "junior", {"billing": 1, "en": 1}, 1, T0)
    await online(r, "other", {"sales": 4, "en": 3}, 1, T0)
    await r.request(billing("c1"), T0)
    await r.request(billing("c2"), T0)
    first = await tick(r, T0 + 30)
    assert [(o.conversation_id, o.agent_id) for o in first.offers] == [("c1", "junior")]
    await r.accept(first.offers[0].offer_id, "junior", T0 + 31)
    second = await tick(r, T0 + 90)
    assert [(o.conversation_id, o.agent_id) for o in second.offers] == [("c2", "other")]
    assert (await r.explain("c2"))[-1]["required"] == {"en": 1}


async def test_rule5_relaxed_conversation_ahead_of_one_rerouted_in_the_same_call(
    router: Router,
) -> None:
    """One call both relaxes an older conversation and re-routes a newer one: the agent who
    can now take either gets the older (regression: the freed agent's scan went first)."""
    await online(router, "x", {"general": 1, "en": 1}, 2, T0 - 10)  # idle longest
    await online(router, "y", {"billing": 2, "general": 1, "en": 1}, 1, T0 - 5)
    assert (await router.request(billing("old"), T0)).status == "queued"  # y: en 1 < 2
    new = (await router.request(ConversationRequest("new", "general", "en"), T0 + 1)).offer
    assert new is not None and new.agent_id == "x"
    offers = await router.decline(new.offer_id, "x", T0 + 60)  # "old" reaches step 1 now
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("old", "y")]
    assert (await router.position("new", T0 + 60))[0] == 1  # x cools down; y is busy
