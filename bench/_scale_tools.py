"""The plan of bench/routing_scale.py and the tools its parts share: the synthetic clock, the
deadlines of the time caps, the server-side script meter (``INFO commandstats``), the slow log,
and the router set-up calls (agents added, chats held, arrivals enqueued in pipelined batches).
"""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import redis.asyncio as aioredis

from bench import relay
from routing import ConversationRequest, Offer, Router, default_config

NOW = 1_000_000.0  # where the synthetic clock starts
STEP = 0.001  # seconds the clock moves on per round trip
ENQUEUE_BATCH = 500
TASKS = 4
BATCH = 128
SLOW_US = 5_000
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")
SKILLS = {"general": 3, "en": 3}


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
