"""Parts 3 and 4 of bench/routing_scale.py (see its docstring): a large queue filled
(**enqueue**) and drained by agents coming online (**draining**); ``_drain`` also works the
surge's queue in part 6."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from bench._scale_tools import (
    BATCH,
    ENQUEUE_BATCH,
    SKILLS,
    TASKS,
    Clock,
    Deadline,
    Plan,
    _add_agents,
    _client,
    _enqueue,
    _fresh_router,
    _hold,
    _ok,
    _slowlog_read,
    _slowlog_start,
)
from routing import Offer, Router
from tests.support.redis_server import RedisServer

TARGET_ENQUEUE_S = 10.0  # for TARGET_ENQUEUE_N arrivals
TARGET_ENQUEUE_N = 50_000


# -- 3. enqueue ------------------------------------------------------------------------------


async def _enqueue_part(plan: Plan) -> dict[str, Any]:
    target_s = TARGET_ENQUEUE_S * plan.enqueue_total / TARGET_ENQUEUE_N
    with RedisServer() as server:
        client = _client(server.url)
        try:
            clock = Clock()
            router = _fresh_router(client)
            await router.heartbeat(clock.now)
            agents = [f"agent-{i}" for i in range(plan.enqueue_agents)]
            await _add_agents(router, clock, agents, SKILLS, 1, "online")
            await _hold(router, clock, [f"held-{i}" for i in range(plan.enqueue_agents)])
            await _slowlog_start(client)
            ids = [f"w{i}" for i in range(plan.enqueue_total)]
            deadline = Deadline(plan.cap_s)
            reached = await _enqueue(router, clock, ids, deadline)
            elapsed = round(time.perf_counter() - deadline.started, 2)
            setup_slowlog = await _slowlog_read(client)
            stats = await router.stats(clock.now)
        finally:
            await client.aclose()
    return {
        "arrivals": plan.enqueue_total,
        "reached": reached,
        "agents_busy": plan.enqueue_agents,
        "enqueue_s": elapsed,
        "arrivals_per_s": round(reached / elapsed) if elapsed else None,
        "waiting_after": stats["totals"]["waiting"],
        "capped": reached < plan.enqueue_total,
        "cap_s": plan.cap_s,
        "target_s": round(target_s, 2),
        "target_of": f"{TARGET_ENQUEUE_S:g} s for {TARGET_ENQUEUE_N:,} arrivals, "
        f"scaled to {plan.enqueue_total:,}",
        "met": reached == plan.enqueue_total and elapsed <= target_s,
        "setup_slowlog": setup_slowlog,
    }


# -- 4. draining -----------------------------------------------------------------------------


async def _drain(
    router: Router,
    now: Callable[[], float],
    agents: list[str],
    total: int,
    deadline: Deadline,
    *,
    tasks: int = TASKS,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Bring ``agents`` online and work the offers the calls return until ``total`` were
    accepted (or the deadline passed): accept a batch, release it, collect the new offers.
    ``now()`` gives the clock for each round trip."""
    pending: collections.deque[Offer] = collections.deque()
    more = asyncio.Event()
    accepted = 0
    in_flight = 0
    errors = 0
    started = time.perf_counter()
    last_accept = started
    for start in range(0, len(agents), ENQUEUE_BATCH):
        batch = router.batch()
        t = now()
        for agent in agents[start : start + ENQUEUE_BATCH]:
            batch.set_status(agent, "online", t)
        for r in _ok(await batch.execute()):
            pending.extend(r)

    def stopped() -> bool:
        return accepted >= total or deadline.passed or (stop is not None and stop.is_set())

    async def worker() -> None:
        nonlocal accepted, in_flight, errors, last_accept
        batch = router.batch()
        while not stopped():
            if not pending:
                if in_flight == 0:
                    return  # nothing open and nothing coming
                more.clear()
                await more.wait()
                continue
            offers = [pending.popleft() for _ in range(min(BATCH, len(pending)))]
            in_flight += 1
            try:
                t = now()
                for o in offers:
                    batch.accept(o.offer_id, o.agent_id, t)
                results = await batch.execute()
                ok = [
                    o for o, r in zip(offers, results, strict=True) if not isinstance(r, Exception)
                ]
                errors += len(offers) - len(ok)
                accepted += len(ok)
                last_accept = time.perf_counter()
                t = now()
                for o in ok:
                    batch.release(o.conversation_id, t)
                for r in await batch.execute():
                    if isinstance(r, Exception):
                        errors += 1
                    else:
                        pending.extend(r)
            finally:
                in_flight -= 1
                more.set()

    await asyncio.gather(*(worker() for _ in range(tasks)))
    seconds = last_accept - started
    return {
        "accepted": accepted,
        "drain_s": round(seconds, 2),
        "assignments_per_s": round(accepted / seconds) if seconds > 0 else None,
        "errors": errors,
        "capped": accepted < total,
    }


async def _draining(plan: Plan) -> dict[str, Any]:
    with RedisServer() as server:
        client = _client(server.url, max_connections=TASKS + 4)
        try:
            clock = Clock()
            router = _fresh_router(client)
            await router.heartbeat(clock.now)
            agents = [f"agent-{i}" for i in range(plan.drain_agents)]
            await _add_agents(router, clock, agents, SKILLS, plan.drain_capacity, "away")
            await _slowlog_start(client)
            enqueue = Deadline(plan.cap_s)
            ids = [f"w{i}" for i in range(plan.drain_waiting)]
            reached = await _enqueue(router, clock, ids, enqueue)
            enqueue_s = enqueue.elapsed
            setup_slowlog = await _slowlog_read(client)
            await _slowlog_start(client)
            drained = await _drain(router, clock.tick, agents, reached, Deadline(plan.cap_s))
            slowlog = await _slowlog_read(client)
            stats = await router.stats(clock.tick())
        finally:
            await client.aclose()
    return {
        "agents": plan.drain_agents,
        "capacity": plan.drain_capacity,
        "waiting_asked": plan.drain_waiting,
        "waiting": reached,
        "enqueue_s": enqueue_s,
        "enqueue_capped": reached < plan.drain_waiting,
        **drained,
        "left_waiting": stats["totals"]["waiting"],
        "cap_s": plan.cap_s,
        "slowlog": slowlog,
        "setup_slowlog": setup_slowlog,
    }
