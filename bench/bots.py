"""Bots: what the answer timeouts cost as they pile up, and what re-arming them costs.

1. **Claims against the deadlines.** 1,000 → 100,000 conversations whose bot's answer is not
   due yet, plus 100 that are: the time of one `BotTimers.claim` (the Lua script every hub's
   tick runs: the due ones, moved a lease ahead). Baseline, same run and same Redis: a plain
   read-only ``ZRANGEBYSCORE … LIMIT`` of the same due members — what a claim cannot avoid.
   The claim must not grow with the deadlines that are not due.
2. **Re-arming after Redis lost its data.** 100 → 5,000 conversations held by a bot, each with
   an unanswered visitor message, in SQLite: `BotDesk.rearm` (list the active conversations,
   read each one's messages, set its deadline). Baseline: the list alone. Per conversation.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import redis.asyncio as aioredis

from chatserver.core.base import Core
from chatserver.core.bots import BotDesk, BotTimers
from chatserver.store import SQLiteStore, iso_now
from chatserver.store.base import ConversationRecord, VisitorRecord
from chatserver.store.bots import BotRecord
from tests.support.redis_server import RedisServer

DUE = 100


@dataclass(frozen=True, slots=True)
class Sizes:
    waiting: tuple[int, ...]
    held: tuple[int, ...]
    rounds: int = 20


QUICK = Sizes((1_000, 10_000), (100, 1_000))
FULL = Sizes((1_000, 10_000, 100_000), (100, 1_000, 5_000))


async def _claims(url: str, sizes: Sizes) -> list[dict[str, Any]]:
    redis = aioredis.from_url(url)
    timers = BotTimers(redis, "bench")
    out = []
    try:
        for waiting in sizes.waiting:
            await redis.delete(timers.key)
            now = time.time()
            for start in range(0, waiting, 10_000):
                chunk = range(start, min(waiting, start + 10_000))
                await redis.zadd(timers.key, {f"w{i}": now + 3600 + i for i in chunk})
            claims, reads = [], []
            for _ in range(sizes.rounds):
                await redis.zadd(timers.key, {f"d{i}": now - 1 for i in range(DUE)})
                t0 = time.perf_counter()
                await redis.zrangebyscore(timers.key, "-inf", now, start=0, num=DUE)
                reads.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                got = await timers.claim(now)
                claims.append(time.perf_counter() - t0)
                assert len(got) == DUE, len(got)
            claim_ms = statistics.median(claims) * 1000
            read_ms = statistics.median(reads) * 1000
            out.append(
                {
                    "not_due": waiting,
                    "due": DUE,
                    "claim_ms": round(claim_ms, 3),
                    "baseline_read_ms": round(read_ms, 3),
                    "ratio_to_read": round(claim_ms / read_ms, 2),
                }
            )
    finally:
        await redis.aclose()
    return out


async def _rearm(url: str, folder: Path, held: int) -> dict[str, Any]:
    redis = aioredis.from_url(url)
    store = SQLiteStore(folder / f"rearm-{held}.db")
    await store.open()
    try:
        now = iso_now()
        await store.add_visitor(VisitorRecord(id="v", token_hash="t", site="s", created_at=now))
        for i in range(held):
            cid = f"c{i:05d}"
            await store.add_conversation(
                ConversationRecord(
                    id=cid, visitor_id="v", site="s", topic="billing", language="en",
                    status="active", created_at=now, bot_id="b1",
                )
            )  # fmt: skip
            await store.append(cid, "message", {"text": "hi"}, ts=now, actor_role="visitor")
        await store.add_bot(
            BotRecord("b1", "Penny", "wh", "k", ("billing",), 20.0, created_at=now, updated_at=now)
        )
        desk = BotDesk(cast(Core, SimpleNamespace(store=store)), store)
        desk.timers = BotTimers(redis, f"bench-rearm-{held}")
        t0 = time.perf_counter()
        await store.list_conversations(status={"active"})
        listed = time.perf_counter() - t0
        t0 = time.perf_counter()
        armed = await desk.rearm(time.time())
        took = time.perf_counter() - t0
        assert armed == held and await redis.zcard(desk.timers.key) == held
    finally:
        await store.close()
        await redis.aclose()
    return {
        "held": held,
        "rearm_ms": round(took * 1000, 1),
        "baseline_list_ms": round(listed * 1000, 1),
        "per_conversation_ms": round(took * 1000 / held, 3),
    }


async def _run(sizes: Sizes) -> dict[str, Any]:
    with RedisServer() as server, tempfile.TemporaryDirectory() as tmp:
        claims = await _claims(server.url, sizes)
        rearm = [await _rearm(server.url, Path(tmp), n) for n in sizes.held]
    first, last = claims[0], claims[-1]
    per = [r["per_conversation_ms"] for r in rearm]
    return {
        "claims": claims,
        "rearm": rearm,
        "baseline": {"read_ms": first["baseline_read_ms"], "list_ms": rearm[0]["baseline_list_ms"]},
        "ratio": last["ratio_to_read"],
        "ratio_of": f"one claim of {DUE} due deadlines / a plain read of them, with"
        f" {last['not_due']:,} not due",
        "targets": {
            "claims_flat_with_deadlines": last["claim_ms"] <= 3 * first["claim_ms"] + 0.5,
            "rearm_linear": per[-1] <= 3 * per[0] + 0.2,
        },
    }


def measure(sizes: Sizes) -> dict[str, Any]:
    return asyncio.run(_run(sizes))


def run(quick: bool) -> dict[str, Any]:
    return measure(QUICK if quick else FULL)
