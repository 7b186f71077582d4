"""Routing at scale: how the router's cost grows with the agents online and with the queue.

Everything goes through the public ``routing.Router`` API (single calls and ``Router.batch()``
pipelines); nothing reads the router's keys or scripts, so the scenario runs unchanged on any
design behind that API. Each measurement but the last gets a private redis-server
(tests.support.redis_server.RedisServer), flushed and rebuilt for every size, with the shipped
default configuration and a synthetic clock: ``now`` starts at a fixed time and is moved on by
1 ms per round trip, never far enough for an offer to expire or a relaxation step to come due.

Server-side cost (``*_us``): Redis's own time inside the router's scripts per call —
the ``usec`` delta of ``INFO commandstats`` over the script commands (``evalsha``, and
``eval``/``fcall`` should a design use them), read before and after each pipelined batch of
one kind of call and divided by the calls of that kind (``calls`` per size; the batches of one
kind only). Round trips and the Python client are not in it.

1. **floor** — N agents online (``general``: 3, ``en``: 3, capacity 3), nothing waiting, every
   agent eligible, N in ``floor_sizes``. Rounds of min(N, 100) cycles: a batch of ``request``
   (each offered at once, so each decision weighs N candidates), a batch of their ``accept``,
   a batch of their ``release``, after one unmeasured warm-up round. Figures per size:
   ``request_us``, ``accept_us``, ``release_us``; ratio = largest N / N = 10 (target ≤ 2×).
2. **backlog** — 10 agents of capacity 1, each holding an accepted chat, and N conversations
   waiting (enqueued in pipelined batches of 500 — setup, not measured), N in
   ``backlog_sizes``. Measured, in rounds until ``calls`` of each: 10 more arrivals (``request``,
   each queued at the back), then the 10 agents' ``release`` (each frees a slot, so the head of
   the queue is offered: the call returns that offer), then the 10 ``accept`` of those offers —
   the backlog goes from N to N + 10 and back each round; then ``calls`` ``tick`` with nothing
   due. Ratio = largest N / N = 0 (target ≤ 2×).
3. **enqueue** — 1,000 agents of capacity 1, all holding an accepted chat; ``enqueue_total``
   arrivals enqueued in pipelined batches of 500; wall seconds. Target ≤ 10 s for 50,000,
   scaled in proportion for a smaller run (``target_s`` says which).
4. **draining** — ``drain_agents`` agents of capacity 3 start ``away`` while ``drain_waiting``
   conversations are enqueued (setup); then the clock starts: every agent goes ``online``
   (pipelined), and ``TASKS`` asyncio tasks drain the queue through the offers the calls
   return — each takes up to ``BATCH`` open offers, accepts them in one pipelined batch,
   releases those chats in the next, and hands the offers the releases made to the pool.
   ``assignments_per_s`` = accepts / seconds from the first ``online`` to the last accept,
   once the queue is empty (target ≥ 2,000/s).
5. **slowlog** — at the start of every measured phase above, on its Redis: ``CONFIG SET
   slowlog-log-slower-than 5000`` (5 ms), ``SLOWLOG RESET``; after it, ``SLOWLOG LEN`` (the
   count) and the slowest entries of ``SLOWLOG GET 128`` (command name, µs) — reported with the
   phase as ``slowlog``. The deliberate bulk loads (the backlog's and the drain's enqueue, and
   part 3, which is nothing but one) are logged the same way but reported apart as
   ``setup_slowlog``. Target: no entry in any measured phase.
6. **surge** — relay latency through a real hub while a surge is routed on the hub's own
   Redis. A hub process and its load generator exactly as in bench/relay.py (its
   ``_hub_target``: 1,000 conversations, 25 agents, ``rate`` messages/s of ~150 bytes, open
   loop); after a warm-up, one fixed-rate step with nothing else going on (the baseline), then
   one of the same length during which another thread drives a surge with its own ``Router``
   on the hub's Redis URL and key prefix (``_servers.HUB_ENV``; the hub builds its router from
   the same settings, with the shipped configuration): ``surge_agents`` agents
   ``surge-agent-<i>`` (topic ``account``, which no hub agent has, so the hub's agents are never
   offered a surge conversation) on node ``surge-bench``, set ``away``; ``surge_visitors``
   arrivals enqueued; the agents brought online and the queue drained as in part 4; again from
   the top until the step ends. This part runs on the wall clock (the hub ticks with it, and
   would expire the surge's offers and declare its node dead on any other), and the surge's
   node sends a heartbeat every second. Figures: ``e2e_p99_ms`` with and without the surge,
   ratio = surge / no surge.

Time caps: each enqueue and each drain stops at ``cap_s`` (the backlog's enqueues of all sizes
share one), ``capped`` true, the size it got to and the seconds it took reported; its figures are
taken at the size reached, the larger sizes are skipped, and its target is not met — so a router
whose cost grows with the queue finishes the run instead of running for hours. A pipelined
batch that took over a second halves the next (down to 50 calls), so a cap is not overshot by
much. The machine's 1-minute load average at each part's start is reported
(``loadavg_1m_before``): on a shared machine, read the figures with it.

``baseline`` holds the smallest sizes (10 agents, 0 waiting) and the relay without a surge;
``ratio`` is the worst growth factor of a per-call cost in parts 1 and 2 (``ratio_of``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import redis.asyncio as aioredis

from bench import relay
from bench._servers import HUB_ENV, CPUMeter, load_average, raise_fd_limit
from routing import ConversationRequest, Offer, Router, RouteResult, TickResult, default_config
from tests.support.redis_server import RedisServer

NOW = 1_000_000.0  # where the synthetic clock starts
STEP = 0.001  # seconds the clock moves on per round trip
ENQUEUE_BATCH = 500
TASKS = 4
BATCH = 128
SLOW_US = 5_000
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")
SKILLS = {"general": 3, "en": 3}
TARGET_RATIO = 2.0
TARGET_ENQUEUE_S = 10.0  # for TARGET_ENQUEUE_N arrivals
TARGET_ENQUEUE_N = 50_000
TARGET_ASSIGNMENTS_PER_S = 2_000
SURGE_TOPIC = "account"  # no agent of the hub's relay load has it
SURGE_NODE = "surge-bench"


@dataclass(frozen=True)
class Plan:
    floor_sizes: tuple[int, ...] = (10, 100, 1_000, 5_000)
    backlog_sizes: tuple[int, ...] = (0, 1_000, 10_000, 50_000)
    backlog_agents: int = 10
    calls: int = 300  # measured calls of each kind per size
    enqueue_total: int = 50_000
    enqueue_agents: int = 1_000
    drain_agents: int = 1_000
    drain_capacity: int = 3
    drain_waiting: int = 20_000
    cap_s: float = 120.0  # each enqueue, each drain
    surge: bool = True
    surge_visitors: int = 10_000
    surge_agents: int = 100
    surge_capacity: int = 3
    surge_step_s: float = 30.0
    hub: relay.Plan = field(default_factory=relay.Plan)


QUICK = Plan(
    floor_sizes=(10, 100, 1_000),
    backlog_sizes=(0, 1_000, 5_000),
    calls=200,
    enqueue_total=5_000,
    drain_agents=200,
    drain_waiting=4_000,
    cap_s=30.0,
    surge_visitors=2_000,
    surge_step_s=10.0,
)
FULL = Plan()


def run(quick: bool) -> dict[str, Any]:
    """Start the private Redis servers and the hub, measure, return the figures (see above)."""
    return measure(QUICK if quick else FULL)


# -- helpers ---------------------------------------------------------------------------------


class Clock:
    """The router's clock: a fixed start, moved on by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def tick(self) -> float:
        self.now += STEP
        return self.now


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.started = time.perf_counter()
        self.at = self.started + seconds

    @property
    def passed(self) -> bool:
        return time.perf_counter() >= self.at

    @property
    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 2)


def _say(what: str, figures: dict[str, Any]) -> None:
    """Progress on stderr: a long run says what it has done so far."""
    shown = {k: v for k, v in figures.items() if isinstance(v, int | float | bool | str)}
    print(f"[routing_scale] {what}: {shown}", file=sys.stderr, flush=True)


def _ok(results: list[Any]) -> list[Any]:
    for r in results:
        if isinstance(r, Exception):
            raise RuntimeError(f"router call failed: {r!r}")
    return results


async def _script_usec(client: aioredis.Redis) -> tuple[float, int]:
    """(µs spent inside scripts, script calls) so far, from INFO commandstats."""
    stats = await client.info("commandstats")
    usec, calls = 0.0, 0
    for name in SCRIPT_COMMANDS:
        entry = stats.get(f"cmdstat_{name}") or {}
        usec += float(entry.get("usec", 0))
        calls += int(entry.get("calls", 0))
    return usec, calls


class Meter:
    """Server-side script time per call, by kind of call, over pipelined batches of one kind."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.usec: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.scripts: collections.Counter[str] = collections.Counter()
        self.ops: collections.Counter[str] = collections.Counter()

    async def run(self, kind: str, batch: Any, ops: int) -> list[Any]:
        usec0, calls0 = await _script_usec(self.client)
        results = _ok(await batch.execute())
        usec1, calls1 = await _script_usec(self.client)
        self.usec[kind] += usec1 - usec0
        self.scripts[kind] += calls1 - calls0
        self.ops[kind] += ops
        return results

    def us(self, kind: str) -> float | None:
        return round(self.usec[kind] / self.ops[kind], 1) if self.ops[kind] else None

    def figures(self, kinds: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {f"{k}_us": self.us(k) for k in kinds}
        out["calls"] = {k: self.ops[k] for k in kinds}
        out["scripts_per_call"] = {
            k: round(self.scripts[k] / self.ops[k], 2) for k in kinds if self.ops[k]
        }
        return out


async def _slowlog_start(client: aioredis.Redis) -> None:
    await client.config_set("slowlog-log-slower-than", SLOW_US)
    await client.config_set("slowlog-max-len", 100_000)  # so SLOWLOG LEN counts them all
    await client.slowlog_reset()


async def _slowlog_read(client: aioredis.Redis) -> dict[str, Any]:
    count = int(await client.slowlog_len())
    entries = await client.slowlog_get(128)
    slowest = sorted(entries, key=lambda e: -int(e["duration"]))[:5]

    def name(entry: dict[str, Any]) -> str:
        command = entry.get("command") or b""
        if isinstance(command, bytes):
            command = command.decode(errors="replace")
        return str(command).split(" ", 1)[0].upper()

    return {
        "count": count,
        "slowest": [{"command": name(e), "us": int(e["duration"])} for e in slowest],
    }


def _client(url: str, max_connections: int = 4) -> aioredis.Redis:
    # No 5 s read timeout (redis-py's default): a pipelined batch on a slow router takes longer.
    return aioredis.Redis.from_url(url, max_connections=max_connections, socket_timeout=600)


def _fresh_router(client: aioredis.Redis, node: str = "bench", prefix: str = "{cs}") -> Router:
    return Router(client, default_config(), node_id=node, prefix=prefix)


async def _add_agents(
    router: Router,
    clock: Clock,
    ids: list[str],
    skills: dict[str, int],
    capacity: int,
    status: Literal["online", "away", "offline"],
) -> list[Offer]:
    offers: list[Offer] = []
    for start in range(0, len(ids), ENQUEUE_BATCH):
        batch = router.batch()
        for agent in ids[start : start + ENQUEUE_BATCH]:
            batch.upsert_agent(agent, skills, capacity, clock.now)
            batch.set_status(agent, status, clock.now)
        for r in _ok(await batch.execute()):
            offers.extend(r)
        clock.tick()
    return offers


async def _hold(router: Router, clock: Clock, ids: list[str], topic: str = "general") -> None:
    """Route ``ids`` (each must be offered at once) and accept every offer: busy agents."""
    for start in range(0, len(ids), ENQUEUE_BATCH):
        batch = router.batch()
        for cid in ids[start : start + ENQUEUE_BATCH]:
            batch.request(ConversationRequest(cid, topic, "en"), clock.now)
        routed = _ok(await batch.execute())
        for r in routed:
            assert r.offer is not None, r
            batch.accept(r.offer.offer_id, r.offer.agent_id, clock.now)
        _ok(await batch.execute())
        clock.tick()


async def _enqueue(
    router: Router,
    clock: Clock,
    ids: list[str],
    deadline: Deadline,
    *,
    topic: str = "general",
    batch_size: int = ENQUEUE_BATCH,
) -> int:
    """Request ``ids`` in pipelined batches until done or the deadline passed; how many went.
    A batch that took over a second halves the next (down to 50), so that a slow router stops
    close to the deadline."""
    done = 0
    while done < len(ids) and not deadline.passed:
        batch = router.batch()
        for cid in ids[done : done + batch_size]:
            batch.request(ConversationRequest(cid, topic, "en"), clock.now)
        started = time.perf_counter()
        done += len(_ok(await batch.execute()))
        if time.perf_counter() - started > 1.0:
            batch_size = max(50, batch_size // 2)
        clock.tick()
    return done


def _ratio(big: float | None, small: float | None) -> float | None:
    return round(big / small, 2) if big is not None and small else None


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


# -- 6. relay under a surge ------------------------------------------------------------------


@dataclass
class _Surge:
    """A surge routed on the hub's Redis from a thread of its own, until told to stop."""

    url: str
    prefix: str
    plan: Plan
    stop: threading.Event
    ready: threading.Event
    rounds: list[dict[str, Any]]
    error: str | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # reported, not raised in a thread nobody joins on error
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ready.set()

    async def _main(self) -> None:
        client = _client(self.url, max_connections=8)
        router = Router(client, default_config(), node_id=SURGE_NODE, prefix=self.prefix)
        agents = [f"surge-agent-{i}" for i in range(self.plan.surge_agents)]
        skills = {SURGE_TOPIC: 3, "en": 3}

        async def heartbeat() -> None:
            while True:
                await router.heartbeat(time.time())
                await asyncio.sleep(1.0)

        beating = asyncio.create_task(heartbeat())
        try:
            for agent in agents:
                await router.upsert_agent(agent, skills, self.plan.surge_capacity, time.time())
            n = 0
            while not self.stop.is_set():
                batch = router.batch()
                for agent in agents:
                    batch.set_status(agent, "away", time.time())
                _ok(await batch.execute())
                self.ready.set()
                ids = [f"surge-{n}-{i}" for i in range(self.plan.surge_visitors)]
                enqueue = _StopDeadline(self.stop)
                started = time.perf_counter()
                reached = await _enqueue(
                    router, _WallClock(), ids, enqueue, topic=SURGE_TOPIC, batch_size=100
                )
                enqueue_s = round(time.perf_counter() - started, 2)
                drained = await _drain(
                    router, time.time, agents, reached, enqueue, tasks=2, stop=self.stop
                )
                self.rounds.append(
                    {"visitors": len(ids), "enqueued": reached, "enqueue_s": enqueue_s, **drained}
                )
                n += 1
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await client.aclose()


class _WallClock(Clock):
    """The hub's clock: the surge shares its Redis, so it must share its time too."""

    def tick(self) -> float:
        self.now = time.time()
        return self.now

    def __init__(self) -> None:
        self.now = time.time()


class _StopDeadline(Deadline):
    """A deadline that passes when the surge is told to stop."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(float("inf"))
        self.stop = stop

    @property
    def passed(self) -> bool:
        return self.stop.is_set()


def _surge_part(plan: Plan) -> dict[str, Any]:
    rp = plan.hub
    raise_fd_limit(4096 + 4 * rp.conversations)
    grace = rp.grace_s
    prefix = HUB_ENV["CHATSERVER_REDIS_PREFIX"]
    with (
        tempfile.TemporaryDirectory(prefix="bench-surge-") as tmp,
        relay._hub_target(rp, Path(tmp) / "hub", processes=1) as hub,
    ):
        assert hub.stack is not None and hub.stack.redis is not None
        url = hub.stack.redis.url
        if rp.warmup_s:
            hub.step("w", rp.rate, rp.warmup_s, grace)
        quiet = hub.step("q", rp.rate, plan.surge_step_s, grace)
        surge = _Surge(url, prefix, plan, threading.Event(), threading.Event(), [])
        thread = threading.Thread(target=surge.run, name="surge", daemon=True)
        redis_meter = CPUMeter([hub.stack.redis_pid])
        thread.start()
        surge.ready.wait(120)
        surged = hub.step("s", rp.rate, plan.surge_step_s, grace)
        surge.stop.set()
        thread.join(300)
        surge_redis_cpu = redis_meter.pct()
        tracebacks = hub.tracebacks()
        setup = hub.setup
    p99_quiet, p99_surge = quiet["e2e_p99_ms"], surged["e2e_p99_ms"]
    out: dict[str, Any] = {
        "rate_msg_s": rp.rate,
        "conversations": rp.conversations,
        "step_s": plan.surge_step_s,
        "e2e_p99_ms_no_surge": p99_quiet,
        "e2e_p99_ms_surge": p99_surge,
        "e2e_p50_ms_no_surge": quiet["e2e_p50_ms"],
        "e2e_p50_ms_surge": surged["e2e_p50_ms"],
        "ratio": _ratio(p99_surge, p99_quiet),
        "surge_visitors": plan.surge_visitors,
        "surge_agents": plan.surge_agents,
        "surge_rounds_completed": sum(1 for r in surge.rounds if not r["capped"]),
        "surge_enqueued": sum(r["enqueued"] for r in surge.rounds),
        "surge_accepted": sum(r["accepted"] for r in surge.rounds),
        "surge_rounds": surge.rounds[:3],  # the first few: the rest repeat them
        "surge_error": surge.error,
        "surge_thread_alive": thread.is_alive(),
        "redis_cpu_pct_surge_step_and_after": surge_redis_cpu,
        "no_surge": relay._brief(quiet),
        "with_surge": relay._brief(surged),
        "setup": setup,
    }
    if tracebacks:
        out["server_tracebacks"] = [t[-2000:] for t in tracebacks]
    return out


# -- the whole -------------------------------------------------------------------------------


def measure(plan: Plan) -> dict[str, Any]:
    load = {"floor": load_average()}
    floor = asyncio.run(_floor(plan))
    load["backlog"] = load_average()
    backlog = asyncio.run(_backlog(plan))
    load["enqueue"] = load_average()
    enqueue = asyncio.run(_enqueue_part(plan))
    _say("enqueue", enqueue)
    load["draining"] = load_average()
    draining = asyncio.run(_draining(plan))
    _say("draining", draining)
    surge = None
    if plan.surge:
        load["surge"] = load_average()
        surge = _surge_part(plan)
        _say("surge", surge)

    measured = [s["slowlog"] for s in floor["per_size"] + backlog["per_size"]]
    measured.append(draining["slowlog"])
    setup_slowlog = {
        "backlog": [{"waiting": s["waiting"], **s["setup_slowlog"]} for s in backlog["per_size"]],
        "enqueue": enqueue["setup_slowlog"],
        "draining": draining["setup_slowlog"],
    }
    slow_count = sum(s["count"] for s in measured)
    slowest = sorted((e for s in measured for e in s["slowest"]), key=lambda e: -e["us"])[:5]
    ratios = [r for r in (floor["worst_ratio"], backlog["worst_ratio"]) if r is not None]
    largest_floor, largest_backlog = floor["agents_largest"], backlog["waiting_largest"]
    drained_ok = not draining["capped"] and not draining["enqueue_capped"]
    rate = draining["assignments_per_s"] or 0
    figures: dict[str, Any] = {
        "floor_agents": largest_floor,
        "floor_request_us": floor["request_us_largest"],
        "floor_accept_us": floor["accept_us_largest"],
        "floor_release_us": floor["release_us_largest"],
        "backlog_waiting": largest_backlog,
        "backlog_request_us": backlog["request_us_largest"],
        "backlog_release_us": backlog["release_us_largest"],
        "backlog_accept_us": backlog["accept_us_largest"],
        "backlog_tick_us": backlog["tick_us_largest"],
        "backlog_capped": backlog["capped"],
        "enqueue_arrivals": enqueue["reached"],
        "enqueue_s": enqueue["enqueue_s"],
        "enqueue_capped": enqueue["capped"],
        "drain_waiting": draining["waiting"],
        "drain_accepted": draining["accepted"],
        "assignments_per_s": draining["assignments_per_s"],
        "drain_capped": not drained_ok,
        "slowlog_measured": slow_count,
    }
    baseline: dict[str, Any] = {
        "floor_agents": floor["agents_smallest"],
        "floor_request_us": floor["request_us_smallest"],
        "floor_accept_us": floor["accept_us_smallest"],
        "floor_release_us": floor["release_us_smallest"],
        "backlog_waiting": backlog["waiting_smallest"],
        "backlog_request_us": backlog["request_us_smallest"],
        "backlog_release_us": backlog["release_us_smallest"],
        "backlog_accept_us": backlog["accept_us_smallest"],
        "backlog_tick_us": backlog["tick_us_smallest"],
    }
    targets: dict[str, bool] = {
        f"floor_us_per_call<={TARGET_RATIO:g}x@{largest_floor}agents": bool(
            floor["worst_ratio"] is not None and floor["worst_ratio"] <= TARGET_RATIO
        ),
        f"backlog_us_per_call<={TARGET_RATIO:g}x@{plan.backlog_sizes[-1]}waiting": bool(
            not backlog["capped"]
            and largest_backlog == plan.backlog_sizes[-1]
            and backlog["worst_ratio"] is not None
            and backlog["worst_ratio"] <= TARGET_RATIO
        ),
        f"enqueue_{plan.enqueue_total}<={enqueue['target_s']:g}s": bool(enqueue["met"]),
        f"assignments_per_s>={TARGET_ASSIGNMENTS_PER_S}": bool(
            drained_ok and rate >= TARGET_ASSIGNMENTS_PER_S
        ),
        "slowlog_empty_when_measured": slow_count == 0,
    }
    if surge is not None:
        figures["relay_p99_ms"] = surge["e2e_p99_ms_surge"]
        figures["relay_p50_ms"] = surge["e2e_p50_ms_surge"]
        figures["surge_rounds_completed"] = surge["surge_rounds_completed"]
        baseline["relay_p99_ms"] = surge["e2e_p99_ms_no_surge"]
        baseline["relay_p50_ms"] = surge["e2e_p50_ms_no_surge"]
        p99 = surge["e2e_p99_ms_surge"]
        targets[f"relay_p99<={relay.TARGET_P99_MS:g}ms_under_surge"] = bool(
            p99 is not None and p99 <= relay.TARGET_P99_MS and surge["surge_error"] is None
        )
    return {
        **figures,
        "baseline": baseline,
        "ratio": max(ratios) if ratios else None,
        "ratio_of": "worst growth of a per-call script cost: largest / smallest size "
        "(floor: agents, backlog: waiting)",
        "surge_ratio": surge["ratio"] if surge is not None else None,
        "surge_ratio_of": "relay p99 at the same rate: with the surge / without",
        "targets": targets,
        "slowest_measured": slowest,
        "floor": floor,
        "backlog": backlog,
        "enqueue": enqueue,
        "draining": draining,
        "surge": surge,
        "setup_slowlog": setup_slowlog,
        "loadavg_1m_before": load,
        "plan": asdict(plan),
    }
