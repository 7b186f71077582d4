"""Parts 1 and 2 of bench/routing_scale.py (see its docstring): a script call's server-side cost
as the floor of agents online grows (**floor**) and as the queue grows (**backlog**)."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from bench._scale_tools import (
    SKILLS,
    Clock,
    Deadline,
    Meter,
    Plan,
    _add_agents,
    _client,
    _enqueue,
    _fresh_router,
    _hold,
    _ratio,
    _say,
    _slowlog_read,
    _slowlog_start,
)
from routing import ConversationRequest, Offer, RouteResult, TickResult
from tests.support.redis_server import RedisServer

# -- 1. floor --------------------------------------------------------------------------------


async def _floor_one(client: aioredis.Redis, agents: int, calls: int) -> dict[str, Any]:
    await client.flushall()
    clock = Clock()
    router = _fresh_router(client)
    await router.heartbeat(clock.now)
    started = time.perf_counter()
    await _add_agents(router, clock, [f"agent-{i}" for i in range(agents)], SKILLS, 3, "online")
    setup_s = round(time.perf_counter() - started, 2)
    meter = Meter(client)
    per_round = min(agents, 100)
    counter = 0

    async def cycle(measure: bool) -> None:
        nonlocal counter
        ids = [f"c{counter + i}" for i in range(per_round)]
        counter += per_round
        kind = "request" if measure else "warm"
        batch = router.batch()
        for cid in ids:
            batch.request(ConversationRequest(cid, "general", "en"), clock.now)
        routed: list[RouteResult] = await meter.run(kind, batch, len(ids))
        clock.tick()
        for r in routed:
            assert r.offer is not None, f"not offered at once: {r}"
            batch.accept(r.offer.offer_id, r.offer.agent_id, clock.now)
        await meter.run("accept" if measure else "warm", batch, len(ids))
        clock.tick()
        for cid in ids:
            batch.release(cid, clock.now)
        await meter.run("release" if measure else "warm", batch, len(ids))
        clock.tick()

    await cycle(measure=False)
    await _slowlog_start(client)
    while meter.ops["request"] < calls:
        await cycle(measure=True)
    slowlog = await _slowlog_read(client)
    return {
        "agents": agents,
        **meter.figures(("request", "accept", "release")),
        "setup_s": setup_s,
        "slowlog": slowlog,
    }


async def _floor(plan: Plan) -> dict[str, Any]:
    sizes = []
    with RedisServer() as server:
        client = _client(server.url)
        try:
            for n in plan.floor_sizes:
                sizes.append(await _floor_one(client, n, plan.calls))
                _say("floor", sizes[-1])
        finally:
            await client.aclose()
    return _part(sizes, "agents", ("request", "accept", "release"))


def _part(sizes: list[dict[str, Any]], key: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    """Per-size figures, plus the largest size's, the smallest's and their ratios."""
    first, last = sizes[0], sizes[-1]
    ratios = {k: _ratio(last[f"{k}_us"], first[f"{k}_us"]) for k in kinds}
    out: dict[str, Any] = {f"{key}_smallest": first[key], f"{key}_largest": last[key]}
    for k in kinds:
        out[f"{k}_us_smallest"] = first[f"{k}_us"]
        out[f"{k}_us_largest"] = last[f"{k}_us"]
    out["ratios"] = ratios
    out["worst_ratio"] = max((r for r in ratios.values() if r is not None), default=None)
    out["per_size"] = sizes
    return out


# -- 2. backlog ------------------------------------------------------------------------------


async def _backlog_one(
    client: aioredis.Redis, plan: Plan, waiting: int, deadline: Deadline
) -> dict[str, Any]:
    await client.flushall()
    clock = Clock()
    router = _fresh_router(client)
    await router.heartbeat(clock.now)
    agents = [f"agent-{i}" for i in range(plan.backlog_agents)]
    await _add_agents(router, clock, agents, SKILLS, 1, "online")
    active = [f"held-{i}" for i in range(plan.backlog_agents)]
    await _hold(router, clock, active)
    await _slowlog_start(client)
    started = time.perf_counter()
    reached = await _enqueue(router, clock, [f"w{i}" for i in range(waiting)], deadline)
    enqueue_s = round(time.perf_counter() - started, 2)
    setup_slowlog = await _slowlog_read(client)
    # Warm-up (unmeasured): each kind of call once, so every script is loaded and cached; one
    # more arrival queues and one release pulls the head: the backlog is as it was.
    await router.tick(clock.tick())
    await router.request(ConversationRequest("warm", "general", "en"), clock.tick())
    [offer] = await router.release(active[0], clock.tick())
    await router.accept(offer.offer_id, offer.agent_id, clock.tick())
    active[0] = offer.conversation_id
    meter = Meter(client)
    await _slowlog_start(client)
    without_offer = 0
    while meter.ops["release"] < plan.calls:
        # One round: as many arrivals as there are agents, then every agent's chat ends and
        # it is offered the head of the queue: the backlog goes from N to N + agents and back.
        n = meter.ops["request"]
        batch = router.batch()
        for i in range(len(active)):
            batch.request(ConversationRequest(f"m{n + i}", "general", "en"), clock.now)
        queued: list[RouteResult] = await meter.run("request", batch, len(active))
        assert all(r.status == "queued" for r in queued), queued[0]
        clock.tick()
        for cid in active:
            batch.release(cid, clock.now)
        released: list[list[Offer]] = await meter.run("release", batch, len(active))
        clock.tick()
        offers = [o for r in released for o in r]
        without_offer += sum(1 for r in released if not r)
        for o in offers:
            batch.accept(o.offer_id, o.agent_id, clock.now)
        await meter.run("accept", batch, len(offers))
        clock.tick()
        active = [o.conversation_id for o in offers]
        if not active:
            break
    while meter.ops["tick"] < plan.calls:
        batch = router.batch()
        for _ in range(min(50, plan.calls - meter.ops["tick"])):
            batch.tick(clock.now)
        ticks: list[TickResult] = await meter.run("tick", batch, len(batch))
        assert not any(t.offers or t.expired for t in ticks), ticks[0]
        clock.tick()
    slowlog = await _slowlog_read(client)
    return {
        "waiting": reached,
        "asked": waiting,
        **meter.figures(("request", "release", "accept", "tick")),
        "releases_without_offer": without_offer,
        "enqueue_s": enqueue_s,
        "capped": reached < waiting,
        "slowlog": slowlog,
        "setup_slowlog": setup_slowlog,
    }


async def _backlog(plan: Plan) -> dict[str, Any]:
    sizes: list[dict[str, Any]] = []
    deadline = Deadline(plan.cap_s)  # the enqueues of every size share one cap
    with RedisServer() as server:
        client = _client(server.url)
        try:
            for n in plan.backlog_sizes:
                sizes.append(await _backlog_one(client, plan, n, deadline))
                _say("backlog", sizes[-1])
                if sizes[-1]["capped"]:
                    break
        finally:
            await client.aclose()
    out = _part(sizes, "waiting", ("request", "release", "accept", "tick"))
    out["capped"] = sizes[-1]["capped"]
    out["sizes_asked"] = list(plan.backlog_sizes)
    out["elapsed_s"] = deadline.elapsed
    return out
