"""Relay: messages between visitors and agents, end to end, against a bare relay in the same run.

Setup (sizes from `Plan`: ``QUICK`` for ``--quick``, ``FULL`` otherwise): a private redis-server,
``agents`` agents created in the store (``capacity`` each, skills ``{topic: 3, en: 3}``), one
``chatserver serve`` process with the rate limit raised (``_servers.HUB_ENV``) and per-message
deflate off. A load-generator *process* (``_loadgen``) logs the agents in, brings them online,
opens one visitor socket per conversation and ``start``s ``conversations`` conversations; the
router offers each to an agent, the agent accepts, and the pairs are ready.

Measured, open loop (messages are due at fixed times whatever the server answers; latency counts
from the due time):

- **warm-up** (not measured, reported as ``warmup``): the fixed-rate load for ``warmup_s``, on
  the hub and the bare relay alike, so that the step below is the steady state — not every
  conversation's first messages at once (each fills the hub's message-path cache; each first
  agent reply sets first_response_at) nor a fresh process's first full collections.
- **fixed rate**: ``rate`` messages/s of ~150 bytes for ``duration_s``, half visitor → agent,
  half agent → visitor: end-to-end latency visitor-send → agent-receive p50/p99 (and the other
  way), ack latency p50/p99, achieved rate, ``lost`` (acked, never delivered to the peer within
  the grace period) and ``duplicated`` (delivered twice) — both must be 0 — and ``out_of_order``
  (a ``seq`` not above the last one seen on that socket).
- **rate ramp**: the same load at rising rates (×``ramp_factor`` per step, then bisection; falling
  if the fixed-rate step failed) on the same conversations until the verdict changes; a step
  passes when p99 < 50 ms, the achieved rate is ≥ 95 % of the offered one and nothing is lost,
  duplicated, unacked, refused or disconnected.
  ``max_rate_p99_lt_50ms`` is the highest passing rate: the **sustained rate**. Every step
  starts from an idle server: after each one the benchmark waits until the server's CPU is
  below 20 % of a core (``settle_s``, at most 10 s), so what an overloaded step left behind
  is not charged to the next.
- **two hub processes**: the fixed-rate load (after its own warm-up) with every visitor on one
  hub process and every agent on another, so each message crosses Redis pub/sub.

Baseline, same run, same generator code, same conversations and load shape: the bare Starlette
relay (``_bare_relay``: same uvicorn settings, no routing, auth, persistence or Redis). The hub
and the bare relay are up together and take turns, step by step (fixed rate, then each ramp step),
so that whatever else the machine does skews both alike. ``ratio`` = the hub's sustained rate /
the bare relay's (target ≥ 0.5). The CPU of every process — hub, Redis, generator — is reported
as % of one core: on a small machine the generator and the server compete for the same cores.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import tempfile
import time
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench._loadgen import TEXT, Generator, call_all
from bench._servers import (
    HUB_ENV,
    PER_MESSAGE_DEFLATE,
    TOPICS,
    BareRelay,
    CPUMeter,
    HubStack,
    load_average,
    percentile_ms,
    raise_fd_limit,
)

TARGET_P99_MS = 10.0  # at RATE over CONVERSATIONS
TARGET_RATE = 2_000
TARGET_CONVERSATIONS = 1_000
TARGET_MAX_RATE = 5_000  # the highest rate with p99 < RAMP_P99_MS
RAMP_P99_MS = 50.0
TARGET_RATIO = 0.5
SATURATED_PCT = 90.0  # a generator above this share of a core is the bottleneck, not the server


@dataclass(frozen=True)
class Plan:
    conversations: int = TARGET_CONVERSATIONS
    agents: int = 25  # in all, split over the generators
    capacity: int = 50
    rate: float = TARGET_RATE
    # At the fixed rate before anything is measured, reported as ``warmup``: every
    # conversation's first messages (which fill the hub's message-path cache, and whose first
    # agent reply sets first_response_at) and the first full collections of a fresh process
    # would otherwise all land in the first second of the measured step.
    warmup_s: float = 3.0
    duration_s: float = 10.0
    bare_duration_s: float = 5.0
    grace_s: float = 5.0
    ramp_factor: float = 2.0
    ramp_step_s: float = 3.0
    ramp_max_steps: int = 8
    ramp_refine: int = 2
    two_process_duration_s: float = 5.0
    two_process_ramp: bool = False
    generators: int = 1


QUICK = Plan()
FULL = Plan(
    duration_s=60.0,
    bare_duration_s=30.0,
    ramp_factor=1.25,
    ramp_step_s=10.0,
    ramp_max_steps=12,
    ramp_refine=2,
    two_process_duration_s=30.0,
    two_process_ramp=True,
)


def run(quick: bool) -> dict[str, Any]:
    return measure(QUICK if quick else FULL)


def measure(plan: Plan) -> dict[str, Any]:
    raise_fd_limit(4096 + 4 * plan.conversations)
    load = load_average()
    grace = plan.grace_s
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        # The hub and the bare relay are up together and take turns, step by step, so that a
        # change in what else the machine is doing skews both alike.
        with (
            _hub_target(plan, Path(tmp) / "one", processes=1) as hub,
            _bare_target(plan, Path(tmp)) as bare,
        ):
            warmup = hub.step("w", plan.rate, plan.warmup_s, grace) if plan.warmup_s else None
            if plan.warmup_s:
                bare.step("w", plan.rate, plan.warmup_s, grace)
            fixed = hub.step("f", plan.rate, plan.duration_s, grace)
            bare_fixed = bare.step("f", plan.rate, plan.bare_duration_s, grace)
            hub_ramp, bare_ramp = _Ramp(plan, fixed), _Ramp(plan, bare_fixed)
            _run_ramps(plan, [(hub, hub_ramp), (bare, bare_ramp)])
            tracebacks = hub.tracebacks()
        with _hub_target(plan, Path(tmp) / "two", processes=2) as pair:
            if plan.warmup_s:
                pair.step("w", plan.rate, plan.warmup_s, grace)
            two = pair.step("f", plan.rate, plan.two_process_duration_s, grace)
            two_ramp = _Ramp(plan, two)
            if plan.two_process_ramp:
                _run_ramps(plan, [(pair, two_ramp)])
            tracebacks += pair.tracebacks()
    max_rate, bare_rate = hub_ramp.best, bare_ramp.best
    ratio = max_rate / bare_rate if bare_rate else 0.0
    at_target = plan.rate >= TARGET_RATE and plan.conversations >= TARGET_CONVERSATIONS
    p99 = fixed["e2e_p99_ms"]
    result = {
        "conversations": plan.conversations,
        "rate_msg_s": plan.rate,
        "duration_s": plan.duration_s,
        "message_bytes": len(TEXT.encode()),
        **fixed,
        "warmup": {"duration_s": plan.warmup_s, **(_brief(warmup) if warmup else {})},
        "max_rate_p99_lt_50ms": max_rate,
        "ramp": hub_ramp.steps,
        "setup": hub.setup,
        "two_processes": {
            "what": "visitors on one hub process, agents on another: every message crosses Redis",
            "duration_s": plan.two_process_duration_s,
            **two,
            **(
                {"max_rate_p99_lt_50ms": two_ramp.best, "ramp": two_ramp.steps}
                if plan.two_process_ramp
                else {}
            ),
            "setup": pair.setup,
        },
        "baseline": {
            "what": "bare Starlette WebSocket relay (bench/_bare_relay.py), same uvicorn settings",
            "duration_s": plan.bare_duration_s,
            **bare_fixed,
            "max_rate_p99_lt_50ms": bare_rate,
            "ceiling_found": bare_ramp.found,
            "ramp": bare_ramp.steps,
            "setup": bare.setup,
        },
        "ratio": round(ratio, 3),
        "ratio_of": "sustained rate (highest with p99 < 50 ms): hub / bare relay",
        "server_env": {k: v for k, v in HUB_ENV.items() if "RATE" in k},
        "per_message_deflate": PER_MESSAGE_DEFLATE,
        "generators": plan.generators,
        "plan": asdict(plan),
        "loadavg_1m_before": load,
        "targets": {
            f"p99<={TARGET_P99_MS:g}ms@{TARGET_RATE}msg/s,{TARGET_CONVERSATIONS}conv": bool(
                at_target and p99 is not None and p99 <= TARGET_P99_MS
            ),
            "lost==0,duplicated==0": all(r["lost"] == r["duplicated"] == 0 for r in (fixed, two)),
            f"max_rate_p99<{RAMP_P99_MS:g}ms>={TARGET_MAX_RATE}": max_rate >= TARGET_MAX_RATE,
            f"ratio>={TARGET_RATIO}": ratio >= TARGET_RATIO,
        },
    }
    if tracebacks:
        result["server_tracebacks"] = [t[-2000:] for t in tracebacks]
    return result


# -- the two targets -------------------------------------------------------------------------


@dataclass
class _Target:
    """A server (or two) under load, with the generators that hold its conversations."""

    gens: list[Generator]
    shares: list[int]  # conversations per generator
    pids: list[int]  # the server processes whose CPU counts
    redis: int | None
    setup: dict[str, Any]
    stack: HubStack | None = None

    def step(self, sid: str, rate: float, duration: float, grace: float) -> dict[str, Any]:
        return _step(self.gens, self.shares, self.pids, self.redis, sid, rate, duration, grace)

    def tracebacks(self) -> list[str]:
        return self.stack.tracebacks() if self.stack is not None else []


@contextlib.contextmanager
def _bare_target(plan: Plan, tmp: Path) -> Iterator[_Target]:
    relay = BareRelay(tmp)
    gens: list[Generator] = []
    try:
        relay.start()
        for g in range(plan.generators):
            gens.append(Generator(f"loadgen-bare-{g}"))
        shares = _split(plan.conversations, plan.generators)
        agents = _split(plan.agents, plan.generators)
        setups = call_all(
            gens,
            "setup_bare",
            [
                {"url": relay.ws, "conversations": n, "agents": a, "prefix": f"g{g}c"}
                for g, (n, a) in enumerate(zip(shares, agents, strict=True))
            ],
        )
        yield _Target(gens, shares, [relay.pid], None, _setup_summary(setups, plan, 1))
    finally:
        for gen in gens:
            gen.close()
        relay.stop()


@contextlib.contextmanager
def _hub_target(plan: Plan, data: Path, *, processes: int) -> Iterator[_Target]:
    topics = TOPICS[: plan.generators]
    agents = dict(zip(topics, _split(plan.agents, plan.generators), strict=True))
    if plan.capacity * plan.agents < plan.conversations:
        raise ValueError("agents × capacity must cover the conversations")
    stack = HubStack(data, processes=processes)
    gens: list[Generator] = []
    try:
        stack.start(agents, plan.capacity)
        visitors_on, agents_on = stack.servers[0], stack.servers[-1]
        for g in range(plan.generators):
            gens.append(Generator(f"loadgen-hub{processes}-{g}"))
        shares = _split(plan.conversations, plan.generators)
        setups = call_all(
            gens,
            "setup_hub",
            [
                {
                    "http_url": agents_on.http,
                    "visitor_url": f"{visitors_on.ws}/ws/visitor",
                    "agent_url": f"{agents_on.ws}/ws/agent",
                    "agents": stack.agents[topic],
                    "conversations": n,
                    "topic": topic,
                }
                for topic, n in zip(topics, shares, strict=True)
            ],
        )
        setup = _setup_summary(setups, plan, processes)
        yield _Target(gens, shares, stack.hub_pids, stack.redis_pid, setup, stack)
    finally:
        for gen in gens:
            gen.close()
        stack.stop()


# -- steps and the ramp ----------------------------------------------------------------------


class _Ramp:
    """Rise (or fall) by ``ramp_factor`` from the first step's verdict until it changes, then
    bisect ``ramp_refine`` times; ``best`` is the highest passing rate."""

    def __init__(self, plan: Plan, first: dict[str, Any]) -> None:
        self.plan = plan
        self.steps = [_brief(first)]
        rate = float(first["offered_msg_s"])
        self.lo, self.hi = (rate, math.inf) if first["ok"] else (0.0, rate)
        self.searched = 0
        self.refined = 0

    @property
    def searching(self) -> bool:
        return self.hi == math.inf or self.lo == 0.0

    @property
    def found(self) -> bool:
        """Whether a failing rate was reached (else ``best`` is only a lower bound)."""
        return self.hi != math.inf

    @property
    def best(self) -> float:
        return self.lo

    def next_rate(self) -> float | None:
        plan = self.plan
        if self.searching:
            if self.searched >= plan.ramp_max_steps:
                return None
            up = self.hi == math.inf
            rate = float(
                round(self.lo * plan.ramp_factor if up else self.hi / plan.ramp_factor, -1)
            )
            return rate if up or rate >= 50 else None  # no step down below 50 msg/s
        if self.refined >= plan.ramp_refine:
            return None
        rate = float(round(math.sqrt(self.lo * self.hi), -1))
        return rate if self.lo < rate < self.hi else None

    def record(self, rate: float, result: dict[str, Any]) -> None:
        if self.searching:
            self.searched += 1
        else:
            self.refined += 1
        self.steps.append(_brief(result))
        if result["ok"]:
            self.lo = rate
        else:
            self.hi = rate


def _run_ramps(plan: Plan, ramps: list[tuple[_Target, _Ramp]]) -> None:
    """Advance every ramp one step at a time, in turn, until all are done."""
    for n in itertools.count():
        moved = False
        for target, ramp in ramps:
            rate = ramp.next_rate()
            if rate is not None:
                ramp.record(rate, target.step(f"r{n}", rate, plan.ramp_step_s, plan.grace_s))
                moved = True
        if not moved:
            return


def _step(
    gens: list[Generator],
    shares: list[int],
    pids: list[int],
    redis: int | None,
    sid: str,
    rate: float,
    duration: float,
    grace: float,
) -> dict[str, Any]:
    total = sum(shares)
    server = CPUMeter(pids)
    redis_meter = CPUMeter([redis]) if redis is not None else None
    results = call_all(
        gens,
        "step",
        [
            {"sid": sid, "rate": rate * n / total, "duration": duration, "grace": grace}
            for n in shares
        ],
    )
    generators = [float(r["cpu_pct"]) for r in results]
    cpu = {
        "server_cpu_pct": server.pct(),
        "redis_cpu_pct": redis_meter.pct() if redis_meter is not None else None,
        "generator_cpu_pct": max(generators),
        "generators_cpu_pct": generators,
    }
    call_all(gens, "forget", [{"sid": sid}] * len(gens))
    settled = _settle(pids)
    return {**_aggregate(results, rate, cpu), "settle_s": settled}


SETTLE_PCT = 20.0  # a server below this share of a core between steps has caught up
SETTLE_MAX_S = 10.0


def _settle(pids: list[int]) -> float:
    """Wait until the server is idle again (its CPU over 0.2 s below `SETTLE_PCT`, at most
    `SETTLE_MAX_S`): a step that overloaded it leaves work behind — queued commits, a long
    write-ahead log to checkpoint, dirty pages to write back — that would otherwise be charged
    to the next step. Returns the seconds waited."""
    started = time.perf_counter()
    while True:
        meter = CPUMeter(pids)
        time.sleep(0.2)
        if meter.pct() < SETTLE_PCT or time.perf_counter() - started > SETTLE_MAX_S:
            return round(time.perf_counter() - started, 2)


def _aggregate(results: list[dict[str, Any]], rate: float, cpu: dict[str, Any]) -> dict[str, Any]:
    def merged(key: str) -> list[float]:
        values = array("d")
        for r in results:
            values.frombytes(r[key])
        return values.tolist()

    v2a, a2v, ack, lag = merged("lat_v2a"), merged("lat_a2v"), merged("lat_ack"), merged("send_lag")
    count = {
        k: sum(r[k] for r in results)
        for k in (
            "sent",
            "deliveries",
            "lost",
            "late",
            "never_delivered",
            "unacked",
            "undelivered",
            "duplicated",
            "duplicate_acks",
            "out_of_order",
            "connections_closed",
            "errors",
        )
    }
    span = max(r["delivery_span_s"] for r in results)
    achieved = round(count["deliveries"] / span, 1) if span else 0.0
    p99 = percentile_ms(v2a, 0.99)
    saturated = max(cpu["generators_cpu_pct"]) > SATURATED_PCT
    ok = (
        p99 is not None
        and p99 < RAMP_P99_MS
        and achieved >= 0.95 * rate
        and count["lost"] == count["duplicated"] == count["unacked"] == 0
        and count["undelivered"] == count["connections_closed"] == count["errors"] == 0
    )
    error_kinds: dict[str, int] = {}
    for r in results:
        for kind, n in r["error_kinds"].items():
            error_kinds[kind] = error_kinds.get(kind, 0) + n
    return {
        "offered_msg_s": rate,
        "achieved_msg_s": achieved,
        "e2e_p50_ms": percentile_ms(v2a, 0.50),
        "e2e_p99_ms": p99,
        "e2e_max_ms": percentile_ms(v2a, 1.0),
        "agent_to_visitor_p50_ms": percentile_ms(a2v, 0.50),
        "agent_to_visitor_p99_ms": percentile_ms(a2v, 0.99),
        "ack_p50_ms": percentile_ms(ack, 0.50),
        "ack_p99_ms": percentile_ms(ack, 0.99),
        "send_lag_p99_ms": percentile_ms(lag, 0.99),
        **count,
        "error_kinds": error_kinds,
        **cpu,
        "generator_saturated": saturated,
        "ok": ok,
    }


def _brief(step: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "offered_msg_s",
        "achieved_msg_s",
        "e2e_p50_ms",
        "e2e_p99_ms",
        "ack_p99_ms",
        "lost",
        "duplicated",
        "unacked",
        "errors",
        "connections_closed",
        "server_cpu_pct",
        "redis_cpu_pct",
        "generator_cpu_pct",
        "generator_saturated",
        "ok",
        "settle_s",
    )
    return {k: step[k] for k in keys}


def _setup_summary(setups: list[dict[str, Any]], plan: Plan, processes: int) -> dict[str, Any]:
    return {
        "conversations": sum(s["conversations"] for s in setups),
        "agents": plan.agents,
        "capacity": plan.capacity,
        "hub_processes": processes,
        "generators": plan.generators,
        "setup_s": max(s["setup_s"] for s in setups),
    }


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
