"""Rule 6: a returning visitor's last agent is preferred for a short window."""

from __future__ import annotations

from routing import ConversationRequest, Router
from tests.routing.conftest import T0, online, tick


def back(cid: str, preferred: str | None) -> ConversationRequest:
    return ConversationRequest(cid, "general", "en", preferred_agent=preferred)


async def team(router: Router) -> None:
    await online(router, "pat", {"general": 1, "en": 1}, 2, T0)
    await online(router, "sam", {"general": 1, "en": 1}, 2, T0)


async def busy(router: Router, agent: str, cid: str, now: float) -> None:
    result = await router.request(back(cid, agent), now)
    assert result.offer is not None and result.offer.agent_id == agent
    await router.accept(result.offer.offer_id, agent, now)


async def test_rule6_preferred_agent_wins_over_a_better_ranked_one(router: Router) -> None:
    await team(router)
    await busy(router, "pat", "old", T0 + 1)  # pat 1/2, sam 0/2: sam ranks first
    result = await router.request(back("c1", "pat"), T0 + 2)
    assert result.offer is not None and result.offer.agent_id == "pat"
    record = (await router.explain("c1"))[-1]
    assert record["preferred"] == "pat"
    assert [c["agent_id"] for c in record["candidates"]] == ["pat"]  # the only one read
    assert record["excluded"] == {"preferred_first": 1}  # sam


async def test_rule6_waits_for_a_full_preferred_agent_within_the_window(router: Router) -> None:
    await team(router)
    await busy(router, "pat", "x1", T0)
    await busy(router, "pat", "x2", T0)
    result = await router.request(back("c1", "pat"), T0 + 1)
    assert result.status == "queued"  # sam is free, but pat is preferred until T0 + 16
    offers = await router.release("x1", T0 + 10)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "pat")]


async def test_rule6_after_the_window_anyone_eligible(router: Router) -> None:
    await team(router)
    await busy(router, "pat", "x1", T0)
    await busy(router, "pat", "x2", T0)
    await router.request(back("c1", "pat"), T0 + 1)
    assert (await tick(router, T0 + 15.999)).offers == []
    result = await tick(router, T0 + 16)
    assert [(o.conversation_id, o.agent_id) for o in result.offers] == [("c1", "sam")]


async def test_rule6_no_window_when_the_preferred_agent_cannot_take_it(router: Router) -> None:
    await team(router)
    await online(router, "nolang", {"general": 1}, 2, T0)
    await router.upsert_agent("ghost", {"general": 1, "en": 1}, 2, T0)  # offline
    await online(router, "gone", {"general": 1, "en": 1}, 2, T0)
    await router.set_status("gone", "away", T0)
    for i, preferred in enumerate(["ghost", "gone", "nolang", "nobody"]):
        result = await router.request(back(f"c{i}", preferred), T0 + 1)
        assert result.status == "offered", preferred
        assert result.offer is not None and result.offer.agent_id in ("pat", "sam")


async def test_rule6_preference_ends_when_the_agent_declines(router: Router) -> None:
    await team(router)
    offer = (await router.request(back("c1", "sam"), T0 + 1)).offer
    assert offer is not None and offer.agent_id == "sam"
    offers = await router.decline(offer.offer_id, "sam", T0 + 2)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "pat")]


async def test_rule6_window_ends_when_the_preferred_agent_leaves(router: Router) -> None:
    await team(router)
    await busy(router, "pat", "x1", T0)
    await busy(router, "pat", "x2", T0)
    await router.request(back("c1", "pat"), T0 + 1)
    offers = await router.set_status("pat", "away", T0 + 2)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "sam")]
