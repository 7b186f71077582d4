from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from routing import ConversationRequest, Router, RoutingConfig, TickResult
from routing.config import parse_config
from tests.support.redis_cluster import LocalCluster

T0 = 10_000.0  # the fake clock's start, seconds

# A small configuration the rule tests reason about: billing needs level 2 in both skills and
# relaxes at 60 s (language 1) and 120 s (no language); general relaxes nothing.
TEST_CONFIG: dict[str, Any] = {
    "offer_timeout_s": 30,
    "preferred_window_s": 15,
    "heartbeat_timeout_s": 15,
    "grace_s": 30,
    "reoffer_cooldown_s": 30,
    "handle_time_default_s": 300,
    "languages": ["en", "es", "ar"],
    "topics": {
        "billing": {
            "topic_level": 2,
            "language_level": 2,
            "relax": [{"after_s": 60, "language_level": 1}, {"after_s": 120, "language_level": 0}],
        },
        "general": {"topic_level": 1, "language_level": 1, "relax": []},
        "vip": {"topic_level": 1, "language_level": 1, "priority": 5, "relax": []},
    },
}


def make_config(**overrides: Any) -> RoutingConfig:
    data = json.loads(json.dumps(TEST_CONFIG))
    data.update(overrides)
    return parse_config(data)


@pytest.fixture
def config() -> RoutingConfig:
    return make_config()


@pytest.fixture
async def router(redis: aioredis.Redis, config: RoutingConfig) -> Router:
    r = Router(redis, config, node_id="n1")
    await r.heartbeat(T0)
    return r


@pytest.fixture(scope="session")
def one_node_cluster() -> Iterator[LocalCluster]:
    """A one-node Redis Cluster owning every slot."""
    with LocalCluster(masters=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def three_masters() -> Iterator[LocalCluster]:
    """A Redis Cluster of three masters (a third of the slots each) and a replica of each.
    Tests may move slots and fail masters over: none assumes which master owns what."""
    with LocalCluster(masters=3, replicas=1) as cluster:
        yield cluster


@asynccontextmanager
async def cluster_client(cluster: LocalCluster) -> AsyncIterator[RedisCluster]:
    """redis-py's cluster client, given one node: it learns the others and the slots."""
    client = RedisCluster(host="127.0.0.1", port=cluster.startup_port)
    try:
        yield client
    finally:
        await client.aclose()
        await asyncio.sleep(0)


class EventLog:
    """Collects the JSON events published on the router's channel."""

    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self.pubsub = client.pubsub()
        self.channel = channel
        self.seen: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self.pubsub.subscribe(self.channel)
        while True:  # wait for the subscription to be confirmed
            msg = await self.pubsub.get_message(timeout=1.0)
            if msg and msg["type"] == "subscribe":
                return

    async def drain(self) -> list[dict[str, Any]]:
        """Every event published so far and not yet drained (scripts publish synchronously)."""
        await self.pubsub.execute_command("PING")
        out: list[dict[str, Any]] = []
        while True:
            msg = await self.pubsub.get_message(timeout=1.0)
            if msg is None:
                break
            if msg["type"] == "pong":
                break
            if msg["type"] == "message":
                out.append(json.loads(msg["data"]))
        self.seen.extend(out)
        return out

    def of(self, kind: str, events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        return [e for e in (self.seen if events is None else events) if e["type"] == kind]

    async def close(self) -> None:
        await self.pubsub.aclose()


@pytest.fixture
async def events(redis: aioredis.Redis, router: Router) -> AsyncIterator[EventLog]:
    log = EventLog(redis, router.events_channel)
    await log.start()
    try:
        yield log
    finally:
        await log.close()


async def online(
    router: Router, agent_id: str, skills: dict[str, int], capacity: int, now: float
) -> None:
    await router.upsert_agent(agent_id, skills, capacity, now)
    await router.set_status(agent_id, "online", now)


async def every_script(router: Router) -> None:
    """A floor's whole life, every script at least once: agents online, visitors offered and
    queued, accepted, declined, released, cancelled, transferred, restored, ticked, offline."""
    await router.heartbeat(T0)
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    await online(router, "b", {"general": 1, "en": 1}, 1, T0)
    first = await router.request(ConversationRequest("c1", "general", "en"), T0)
    second = await router.request(ConversationRequest("c2", "general", "en"), T0)
    await router.request(ConversationRequest("c3", "billing", "es", preferred_agent="a"), T0)
    assert first.offer is not None and second.offer is not None
    await router.accept(first.offer.offer_id, first.offer.agent_id, T0 + 1)
    await router.decline(second.offer.offer_id, second.offer.agent_id, T0 + 1)
    await router.release("c1", T0 + 2)
    await router.cancel("c3", T0 + 2)
    await router.set_capacity("a", 2, T0 + 3)
    await router.transfer("c2", T0 + 3, to_topic="general")
    await router.restore_assignment(ConversationRequest("c4", "general", "en"), "b", T0 + 4)
    await router.tick(T0 + 40)
    await router.drain(T0 + 40)
    await router.set_status("a", "offline", T0 + 41)
    assert await router.agents() and await router.queue(T0 + 41) is not None
    assert (await router.stats(T0 + 41))["counters"]["released"] == 1


async def settle() -> None:
    await asyncio.sleep(0)


async def tick(router: Router, now: float) -> TickResult:
    """A live node's tick: heartbeat first (nodes silent for 15 s are declared dead)."""
    await router.heartbeat(now)
    return await router.tick(now)
