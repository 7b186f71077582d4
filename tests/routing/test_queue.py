"""Rules 3 and 8: waiting, the order of the queue, freed capacity, positions and estimates."""

from __future__ import annotations

import pytest

from routing import ConversationRequest, Router, RoutingError
from routing.eta import estimate_wait
from routing.router import POSITIONS_PER_CALL
from tests.routing.conftest import T0, EventLog, online, tick


def req(
    cid: str, topic: str = "general", language: str = "en", **kw: object
) -> ConversationRequest:
    return ConversationRequest(cid, topic, language, **kw)  # type: ignore[arg-type]


async def fill(router: Router, agent: str, cids: list[str], now: float) -> None:
    """Offer and accept conversations until the agent is full."""
    for cid in cids:
        result = await router.request(req(cid), now)
        assert result.offer is not None and result.offer.agent_id == agent, result
        await router.accept(result.offer.offer_id, agent, now)


async def test_rule3_waiting_order_is_priority_then_arrival(router: Router) -> None:
    await online(router, "a", {"general": 1, "vip": 1, "en": 1}, 1, T0)
    await fill(router, "a", ["busy"], T0)
    r1 = await router.request(req("c1"), T0 + 1)
    r2 = await router.request(req("c2"), T0 + 2)
    r3 = await router.request(req("c3", priority=2), T0 + 3)
    assert (r1.position, r2.position, r3.position) == (1, 2, 1)
    assert [(await router.position(c, T0 + 3))[0] for c in ("c3", "c1", "c2")] == [1, 2, 3]
    queue = await router.queue(T0 + 3)
    assert [(q.conversation_id, q.priority, q.position) for q in queue] == [
        ("c3", 2, 1),
        ("c1", 0, 2),
        ("c2", 0, 3),
    ]
    offers = await router.release("busy", T0 + 10)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c3", "a")]
    await router.accept(offers[0].offer_id, "a", T0 + 10)
    offers = await router.release("c3", T0 + 20)
    assert [o.conversation_id for o in offers] == ["c1"]


async def test_rule3_topic_default_priority(router: Router) -> None:
    await online(router, "a", {"general": 1, "vip": 1, "en": 1}, 1, T0)
    await fill(router, "a", ["busy"], T0)
    await router.request(req("g1"), T0 + 1)
    result = await router.request(req("v1", "vip"), T0 + 2)  # vip's default priority is 5
    assert result.status == "queued"
    offers = await router.release("busy", T0 + 3)
    assert [o.conversation_id for o in offers] == ["v1"]


async def test_rule3_other_topics_and_languages_are_not_blocked(router: Router) -> None:
    await online(router, "gen", {"general": 1, "en": 1}, 1, T0)
    waiting_billing = await router.request(req("b1", "billing"), T0 + 1)
    assert waiting_billing.status == "queued" and waiting_billing.agents_online == 0
    waiting_ar = await router.request(req("g-ar", "general", "ar"), T0 + 2)
    assert waiting_ar.status == "queued"
    later = await router.request(req("g-en", "general", "en"), T0 + 3)
    assert later.status == "offered"
    assert later.offer is not None and later.offer.agent_id == "gen"


async def test_rule3_freed_agent_takes_first_waiting_it_is_eligible_for(router: Router) -> None:
    await online(router, "en-only", {"general": 1, "en": 1}, 1, T0)
    await fill(router, "en-only", ["busy"], T0)
    await router.request(req("ar1", language="ar"), T0 + 1)
    await router.request(req("en1", language="en"), T0 + 2)
    await router.request(req("en2", language="en"), T0 + 3)
    offers = await router.release("busy", T0 + 4)
    assert [o.conversation_id for o in offers] == ["en1"]
    assert await router.position("ar1", T0 + 4) == (1, None)  # no Arabic capacity: no estimate
    assert (await router.position("en2", T0 + 4))[0] == 2


async def test_rule3_capacity_frees_when_an_agent_comes_online(router: Router) -> None:
    await router.upsert_agent("a", {"general": 1, "en": 1}, 2, T0)
    await router.request(req("c1"), T0 + 1)
    await router.request(req("c2"), T0 + 2)
    offers = await router.set_status("a", "online", T0 + 3)
    assert sorted(o.conversation_id for o in offers) == ["c1", "c2"]


async def test_rule3_capacity_frees_when_capacity_grows(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await fill(router, "a", ["busy"], T0)
    await router.request(req("c1"), T0 + 1)
    assert await router.set_capacity("a", 1, T0 + 2) == []
    offers = await router.set_capacity("a", 2, T0 + 2)
    assert [o.conversation_id for o in offers] == ["c1"]
    offers = await router.upsert_agent("a", {"general": 1, "en": 1}, 3, T0 + 3)
    assert offers == []
    state = await router.agent("a")
    assert state is not None and (state.status, state.capacity, state.load) == ("online", 3, 2)


async def test_rule3_capacity_frees_when_a_reservation_lapses(router: Router) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 1)
    r1 = await router.request(req("c1"), T0 + 2)  # → a (idle longer), never answered
    r2 = await router.request(req("c2"), T0 + 3)  # → b, accepted
    assert r1.offer is not None and r1.offer.agent_id == "a"
    assert r2.offer is not None and r2.offer.agent_id == "b"
    await router.accept(r2.offer.offer_id, "b", T0 + 4)
    await router.request(req("c3"), T0 + 5)
    ticked = await tick(router, T0 + 2 + 30)
    assert [o.conversation_id for o in ticked.expired] == ["c1"]
    # a lets c1 lapse: a is freed and offered the first waiting conversation it is eligible
    # for — c3, since for c1 it cools down while b (busy) could take c1.
    assert [(o.conversation_id, o.agent_id) for o in ticked.offers] == [("c3", "a")]
    offers = await router.release("c2", T0 + 40)
    assert [(o.conversation_id, o.agent_id) for o in offers] == [("c1", "b")]


async def test_rule8_positions_are_computed_when_asked_and_new_heads_published(
    router: Router, events: EventLog
) -> None:
    await online(router, "a", {"general": 1, "en": 1}, 2, T0)
    await fill(router, "a", ["x1", "x2"], T0)
    for i, cid in enumerate(["w1", "w2", "w3"], start=1):
        result = await router.request(req(cid), T0 + i)
        # H = 300 s (default, no history), C = 2 → ceil(pos × 150)
        assert (result.position, result.eta_s) == (i, 150 * i)
    # Only a new first of a queue is published; the others are read when asked.
    queue_events = events.of("queue", await events.drain())
    assert [(e["conversation_id"], e["position"], e["eta_s"]) for e in queue_events] == [
        ("w1", 1, 150)
    ]
    assert await router.positions(["w3", "w1", "nope", "w2"], T0 + 4) == {
        "w1": (1, 150),
        "w2": (2, 300),
        "w3": (3, 450),
        "nope": (None, None),
    }
    # x1 took 60 s: H = 60 → the queue moves and every estimate changes.
    offers = await router.release("x1", T0 + 60)
    assert [o.conversation_id for o in offers] == ["w1"]
    evs = await events.drain()
    assert [e["conversation_id"] for e in events.of("dequeued", evs)] == ["w1"]
    assert [(e["conversation_id"], e["position"], e["eta_s"]) for e in events.of("queue", evs)] == [
        ("w2", 1, 30)
    ]
    assert await router.position("w3", T0 + 60) == (2, 60)
    assert await router.position("w1", T0 + 60) == (None, None)
    assert estimate_wait(2, [60_000], 2, 300_000) == 60
    # Capacity changes the estimate too: C = 3 → ceil(1 × 60 / 3) = 20.
    await router.set_capacity("a", 3, T0 + 61)  # also offers w2
    evs = await events.drain()
    assert [(e["conversation_id"], e["position"], e["eta_s"]) for e in events.of("queue", evs)] == [
        ("w3", 1, 20)
    ]


async def test_rule8_no_estimate_without_capacity(router: Router) -> None:
    result = await router.request(req("c1"), T0)
    assert (result.status, result.position, result.eta_s, result.agents_online) == (
        "queued",
        1,
        None,
        0,
    )


async def test_rule8_positions_of_thousands_in_one_round_trip(router: Router) -> None:
    """A hub asks for all its waiting visitors at once: the ids go in read-only scripts of at
    most POSITIONS_PER_CALL each, pipelined, and every one is answered in queue order."""
    n = 2 * POSITIONS_PER_CALL + 7
    batch = router.batch()
    for i in range(n):
        batch.request(req(f"w{i}"), T0 + i / 1000)
    assert all(r.status == "queued" for r in await batch.execute())
    ids = [f"w{i}" for i in reversed(range(n))] + ["gone"]
    got = await router.positions(ids, T0 + 5)
    assert len(got) == n + 1 and got["gone"] == (None, None)
    assert [got[f"w{i}"][0] for i in range(n)] == list(range(1, n + 1))
    assert all(got[f"w{i}"][1] is None for i in range(n))  # nobody online: no estimate
    await router.cancel("w0", T0 + 6)
    assert (await router.positions(["w1", "w0"], T0 + 6)) == {"w1": (1, None), "w0": (None, None)}
    assert await router.positions([], T0 + 6) == {}
    with pytest.raises(RoutingError):
        await router.positions(["has space"], T0 + 6)


def test_rule8_formula() -> None:
    # eta_s = ceil(position × H / C), H = mean of the last 50 handle times (ms → s)
    assert estimate_wait(1, [], 4, 300_000) == 75
    assert estimate_wait(3, [], 4, 300_000) == 225
    assert estimate_wait(1, [100_000, 200_000], 3, 300_000) == 50
    assert estimate_wait(1, [1], 1, 300_000) == 1  # never rounds a wait down to zero
    assert estimate_wait(7, [10_000] * 50 + [10**9], 2, 300_000) == 35  # only the last 50
    assert estimate_wait(5, [60_000], 0, 300_000) is None
