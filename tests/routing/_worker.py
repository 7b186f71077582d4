"""A hub process for the concurrency test: its own node, its own agents, real time."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import redis.asyncio as aioredis

from routing import (
    ConversationRequest,
    OfferExpired,
    OfferNotFound,
    Router,
    RoutingError,
    UnknownConversation,
)
from routing.config import parse_config


async def _work(
    url: str, config: dict[str, Any], index: int, seconds: float, counts: dict[str, int]
) -> None:
    rng = random.Random(index)
    client = aioredis.Redis.from_url(url)
    router = Router(client, parse_config(config), node_id=f"node{index}")
    agents = [f"n{index}-a{i}" for i in range(3)]
    try:
        await router.heartbeat(time.time())
        for agent in agents:
            skills = {
                "general": rng.randint(1, 5),
                "billing": rng.randint(1, 5),
                rng.choice(["en", "es"]): rng.randint(1, 5),
            }
            await router.upsert_agent(agent, skills, rng.randint(1, 3), time.time())
            await router.set_status(agent, "online", time.time())
        active: list[str] = []
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            now = time.time()
            roll = rng.random()
            if roll < 0.35:
                n += 1
                req = ConversationRequest(
                    f"w{index}-{n}",
                    rng.choice(["general", "billing"]),
                    rng.choice(["en", "es"]),
                    rng.randint(0, 2),
                )
                await router.request(req, now)
                counts["requests"] += 1
            elif roll < 0.65:
                for agent in agents:
                    for offer in await router.pending_offers(agent):
                        try:
                            if rng.random() < 0.85:
                                await router.accept(offer.offer_id, agent, time.time())
                                active.append(offer.conversation_id)
                                counts["accepted"] += 1
                            else:
                                await router.decline(offer.offer_id, agent, time.time())
                                counts["declined"] += 1
                        except (OfferExpired, OfferNotFound):
                            counts["lost_races"] += 1
            elif roll < 0.9 and active:
                cid = active.pop(rng.randrange(len(active)))
                try:
                    await router.release(cid, now)
                    counts["released"] += 1
                except UnknownConversation:
                    pass
            elif roll < 0.95:
                agent = rng.choice(agents)
                await router.set_status(agent, rng.choice(["online", "online", "away"]), now)
            else:
                await router.heartbeat(now)
                await router.tick(now)
        for agent in agents:
            await router.set_status(agent, "online", time.time())
    finally:
        await client.aclose()


def work(url: str, config: dict[str, Any], index: int, seconds: float, results: Any) -> None:
    """Process entry point (spawn): run, then report counts through the queue."""
    counts = dict.fromkeys(["requests", "accepted", "declined", "released", "lost_races"], 0)
    try:
        asyncio.run(_work(url, config, index, seconds, counts))
    except RoutingError as exc:  # pragma: no cover - reported to the test
        counts["error"] = 1
        results.put((index, counts, repr(exc)))
        raise
    results.put((index, counts, None))
