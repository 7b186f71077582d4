"""Part 6 of bench/routing_scale.py (see its docstring): the hub's relay latency while a surge
is routed on its Redis by a ``Router`` of this process, from a thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import relay
from bench._scale_queue import _drain
from bench._scale_tools import Clock, Deadline, Plan, _client, _enqueue, _ok, _ratio
from bench._servers import HUB_ENV, CPUMeter, raise_fd_limit
from routing import Router, default_config

SURGE_TOPIC = "account"  # no agent of the hub's relay load has it
SURGE_NODE = "surge-bench"


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
