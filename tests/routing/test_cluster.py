"""The router on a Redis Cluster of three masters (a replica each), through redis-py's
``RedisCluster``: a floor — every key under one prefix — is one hash slot, so all of it lives
on one master; floors under other prefixes (one per brand) live on other slots, other masters,
and share nothing; a floor whose master fails over to its replica mid-operation, or whose slot
moves to another master between calls, goes on with its state whole (the client follows
``MOVED`` and retries ``TRYAGAIN``) — but a script that runs while its slot is half moved is
cut short, which is why a floor's slot is never moved under running hubs.
docs/operations.md, "Redis Cluster", says what this means for scale."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from routing import AgentState, ConversationRequest, Router, RoutingConfig
from routing._scripts import Scripts
from tests.routing.conftest import T0, cluster_client, every_script, online
from tests.support.redis_cluster import LocalCluster, wait_until

GENERAL = {"general": 1, "en": 1}


def chat(conversation_id: str, topic: str = "general") -> ConversationRequest:
    return ConversationRequest(conversation_id, topic, "en")


def slot_of(prefix: str) -> int:
    return key_slot(prefix.encode())


def held(cluster: LocalCluster, prefix: str) -> dict[int, list[str]]:
    """The keys under ``prefix`` that each master holds now (``SCAN`` of each), by port; only
    the masters that hold some."""
    found = {
        port: [k for k in cluster.keys(port) if k.startswith(f"{prefix}:")]
        for port in cluster.masters_now()
    }
    return {port: keys for port, keys in found.items() if keys}


def assert_one_slot(cluster: LocalCluster, prefix: str) -> list[str]:
    """Every key of the floor under ``prefix`` is on the master that owns the prefix's slot,
    in that slot (as Redis computes it), and no other master holds any; the keys."""
    slot = slot_of(prefix)
    owner = cluster.owner(slot)
    keys = held(cluster, prefix)
    assert list(keys) == [owner], (owner, {p: len(k) for p, k in keys.items()})
    assert cluster.keyslots(owner, keys[owner]) == {slot}
    return keys[owner]


def mapped(client: RedisCluster, prefix: str) -> int | None:
    """The port of the master that ``client``'s slot map names for the floor's slot."""
    node = client.get_node_from_key(f"{prefix}:x")
    return None if node is None else int(node.port)


def tryagain(cluster: LocalCluster, *ports: int) -> int:
    return sum(cluster.answered(port, "TRYAGAIN") for port in ports)


def loads(agents: list[AgentState]) -> dict[str, list[str]]:
    return {a.agent_id: a.active for a in agents}


async def test_a_floor_is_one_slot_on_one_master(
    three_masters: LocalCluster, config: RoutingConfig
) -> None:
    """A floor's whole life (every script, strict: a key outside the slot would be refused),
    and a batch, on three masters: every key it made is in the slot of ``{cs}``, on its
    master; the two other masters hold nothing."""
    async with cluster_client(three_masters) as client:
        await client.flushall()
        router = Router(client, config, node_id="n1")  # type: ignore[arg-type]
        router._scripts = Scripts(client, strict=True)  # type: ignore[arg-type]
        await every_script(router)
        results = await router.batch().heartbeat(T0 + 42).request(chat("c9"), T0 + 42).execute()
        assert results[0] is None and results[1].status == "queued"  # a is offline, b full
    keys = assert_one_slot(three_masters, "{cs}")
    assert "{cs}:conv:c9" in keys and len(keys) > 10
    assert sum(len(three_masters.keys(p)) for p in three_masters.masters_now()) == len(keys)


async def test_router_events_reach_a_subscriber_on_every_master(
    three_masters: LocalCluster, config: RoutingConfig
) -> None:
    """The scripts PUBLISH the floor's events with classic pub/sub, which a cluster sends to
    every node: a hub subscribed on any master hears them (and every master carries them)."""
    subscribers = [
        aioredis.Redis(host="127.0.0.1", port=port) for port in three_masters.masters_now()
    ]
    channels = [s.pubsub() for s in subscribers]
    try:
        for pubsub in channels:
            await pubsub.subscribe("{cs}:events")
        async with cluster_client(three_masters) as client:
            await client.flushall()
            router = Router(client, config, node_id="n1")  # type: ignore[arg-type]
            await router.heartbeat(T0)
            await online(router, "a", GENERAL, 1, T0)
            offer = (await router.request(chat("c1"), T0)).offer
            assert offer is not None
        for pubsub in channels:
            heard = await offered_events(pubsub)
            assert [(e["conversation_id"], e["agent_id"]) for e in heard] == [("c1", "a")]
    finally:
        for pubsub in channels:
            await pubsub.aclose()
        for subscriber in subscribers:
            await subscriber.aclose()


async def offered_events(pubsub: aioredis.client.PubSub) -> list[dict[str, str]]:
    """The ``offered`` events heard on ``pubsub``, waiting (up to 10 s) for the first: on a
    node that does not own the slot it comes over the cluster bus, after the script returned."""
    deadline = time.monotonic() + 10
    heard: list[dict[str, str]] = []
    while not heard and time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None:
            event = json.loads(message["data"])
            if event["type"] == "offered":
                heard.append(event)
    return heard


async def test_two_brands_are_two_floors_on_two_masters(
    three_masters: LocalCluster, config: RoutingConfig
) -> None:
    """One prefix per brand: ``{brandA}`` and ``{brandB}`` hash to slots of two different
    masters. The same agent and conversation ids on both are different agents and visitors;
    neither floor offers to, queues behind or counts the other's."""
    assert three_masters.owner(slot_of("{brandA}")) != three_masters.owner(slot_of("{brandB}"))
    async with cluster_client(three_masters) as client:
        await client.flushall()
        a = Router(client, config, node_id="n1", prefix="{brandA}")  # type: ignore[arg-type]
        b = Router(client, config, node_id="n1", prefix="{brandB}")  # type: ignore[arg-type]
        for router in (a, b):
            await router.heartbeat(T0)
        await online(a, "ann", GENERAL, 1, T0)
        await online(b, "ann", {"billing": 2, "en": 2}, 1, T0)
        await online(b, "bob", GENERAL, 2, T0)

        first = await a.request(chat("c1"), T0)
        assert first.offer is not None and first.offer.agent_id == "ann"
        # Brand B's bob has room for two general chats: brand A's second visitor waits.
        second = await a.request(chat("c2"), T0)
        assert (second.status, second.position, second.agents_online) == ("queued", 1, 1)
        # Brand B's c1 is another visitor, offered to brand B's ann.
        other = await b.request(chat("c1", "billing"), T0)
        assert other.offer is not None and other.offer.agent_id == "ann"
        await b.accept(other.offer.offer_id, "ann", T0 + 1)

        assert await a.conversation_state("c1") == "offered"
        assert await b.conversation_state("c1") == "active"
        assert await b.conversation_state("c2") is None
        assert [q.conversation_id for q in await a.queue(T0 + 1)] == ["c2"]
        assert await b.queue(T0 + 1) == []
        assert loads(await a.agents()) == {"ann": []}
        assert loads(await b.agents()) == {"ann": ["c1"], "bob": []}
    keys_a = assert_one_slot(three_masters, "{brandA}")
    keys_b = assert_one_slot(three_masters, "{brandB}")
    assert "{brandA}:conv:c1" in keys_a and "{brandB}:conv:c1" in keys_b


async def test_a_floor_moved_to_another_master_between_calls(
    three_masters: LocalCluster, config: RoutingConfig
) -> None:
    """The floor's slot is migrated to another master between two hub processes' calls. An
    arrival that meets the slot half moved is refused before it runs (``TRYAGAIN``) and
    tried again by the client until the move is done, then sent where ``MOVED`` says; the
    other process's batch (a pipeline), its slot map still naming the old master, is
    redirected too. Nothing is lost: the floor's agents, offers and queue are whole on the
    new master, and it goes on. (A call that *runs* mid-move can be cut short: see
    `test_a_script_is_cut_short_by_a_slot_mid_move`.)"""
    prefix = "{brandC}"
    slot = slot_of(prefix)
    async with (
        cluster_client(three_masters) as client,
        cluster_client(three_masters) as other_client,
    ):
        await client.flushall()
        router = Router(client, config, node_id="n1", prefix=prefix)  # type: ignore[arg-type]
        other = Router(other_client, config, node_id="n2", prefix=prefix)  # type: ignore[arg-type]
        await router.heartbeat(T0)
        await other.heartbeat(T0)
        await online(router, "a", GENERAL, 1, T0)
        await online(other, "b", GENERAL, 1, T0)
        first = await router.request(chat("c1"), T0)
        assert first.offer is not None
        await router.accept(first.offer.offer_id, first.offer.agent_id, T0)
        second = await other.request(chat("c2"), T0)
        assert second.offer is not None and second.offer.agent_id != first.offer.agent_id
        for n in range(3, 7):
            assert (await router.request(chat(f"c{n}"), T0 + n)).position == n - 2
        source = three_masters.owner(slot)
        target = next(p for p in three_masters.masters_now() if p != source)
        refused = tryagain(three_masters, source, target)

        migration = three_masters.begin_migration(slot, target)
        assert migration.move(5) == 5
        # The floor's keys are on two masters now: an arrival (its conversation's key not
        # made yet) is refused before it runs until every key has moved; the client retries.
        arrival = asyncio.ensure_future(router.request(chat("c7"), T0 + 7))
        await asyncio.to_thread(
            wait_until,
            "an arrival refused mid-move",
            lambda: tryagain(three_masters, source, target) > refused,
            10,
        )
        await asyncio.to_thread(migration.finish)
        seventh = await arrival
        assert (seventh.status, seventh.position) == ("queued", 5)
        # Its retry was answered MOVED (the map now names the new master) or, landing while the
        # last keys moved, ASK (followed once, the map left as it was): either way it ran on
        # the new master, and the next call sent to the old one is told MOVED.
        assert mapped(client, prefix) in (source, target)

        # The other process's client still maps the slot to the old master: its batch is
        # sent there, told MOVED, and follows.
        assert mapped(other_client, prefix) == source
        results = await (
            other.batch()
            .heartbeat(T0 + 8)
            .accept(second.offer.offer_id, second.offer.agent_id, T0 + 8)
            .request(chat("c8"), T0 + 8)
            .execute()
        )
        assert results[0] is None and results[1].conversation_id == "c2"
        assert (results[2].status, results[2].position) == ("queued", 6)
        assert mapped(other_client, prefix) == target

        # The state came whole, and the floor goes on.
        holders = {first.offer.agent_id: ["c1"], second.offer.agent_id: ["c2"]}
        assert loads(await router.agents()) == holders
        waiting = [q.conversation_id for q in await other.queue(T0 + 9)]
        assert waiting == ["c3", "c4", "c5", "c6", "c7", "c8"]
        released = await router.release("c1", T0 + 9)
        assert [o.conversation_id for o in released] == ["c3"]
        await router.accept(released[0].offer_id, released[0].agent_id, T0 + 9)
        moved = await other.transfer("c2", T0 + 10, to_topic="general")
        assert moved.status == "queued"
    keys = assert_one_slot(three_masters, prefix)
    assert three_masters.owner(slot) == target and f"{prefix}:conv:c8" in keys


async def test_a_script_is_cut_short_by_a_slot_mid_move(
    three_masters: LocalCluster, config: RoutingConfig
) -> None:
    """Why a floor's slot is moved only while no hub uses it (docs/operations.md): while a
    slot is migrating, its old master runs a script whose declared keys it still has, but
    aborts it at the first command on a key it does not have — here one the script was about
    to create — with "non local key", after the writes before it. Redis rolls nothing back:
    the offer is marked accepted, the conversation is not."""
    prefix = "{brandD}"
    slot = slot_of(prefix)
    async with cluster_client(three_masters) as client:
        await client.flushall()
        router = Router(client, config, node_id="n1", prefix=prefix)  # type: ignore[arg-type]
        await router.heartbeat(T0)
        await online(router, "a", GENERAL, 1, T0)
        offer = (await router.request(chat("c1"), T0)).offer
        assert offer is not None
        source = three_masters.owner(slot)
        target = next(p for p in three_masters.masters_now() if p != source)
        migration = three_masters.begin_migration(slot, target)  # no key moved yet
        with pytest.raises(ResponseError, match="non local key"):
            await router.accept(offer.offer_id, "a", T0 + 1)
        await asyncio.to_thread(migration.finish)
        offer_state = await client.hget(f"{prefix}:offer:{offer.offer_id}", "state")
        assert offer_state == b"accepted"
        assert await router.conversation_state("c1") == "offered"
        assert loads(await router.agents()) == {"a": []}


async def test_a_floor_follows_its_master_failing_over(
    three_masters: LocalCluster, config: RoutingConfig
) -> None:
    """The floor's master hands over to its replica (``CLUSTER FAILOVER``: writes paused until
    the replica has caught up) while visitors keep arriving: every call made during the
    handover comes back, redirected by ``MOVED`` to the new master, and the floor is whole
    there — the agents, the offer, every arrival queued once, in order."""
    prefix = "{cs}"
    slot = slot_of(prefix)
    async with cluster_client(three_masters) as client:
        await client.flushall()
        router = Router(client, config, node_id="n1", prefix=prefix)  # type: ignore[arg-type]
        await router.heartbeat(T0)
        await online(router, "a", GENERAL, 1, T0)
        offer = (await router.request(chat("c0"), T0)).offer
        assert offer is not None
        old = three_masters.owner(slot)
        moved = three_masters.answered(old, "MOVED")
        handover = asyncio.ensure_future(asyncio.to_thread(three_masters.failover, old))
        positions: list[int | None] = []
        while not handover.done():
            n = len(positions) + 1
            positions.append((await router.request(chat(f"v{n}"), T0 + n / 1000)).position)
        new = await handover
        n = len(positions) + 1
        positions.append((await router.request(chat(f"v{n}"), T0 + n / 1000)).position)
        assert three_masters.answered(old, "MOVED") > moved  # the old master sent it on
        assert positions == list(range(1, n + 1))
        assert new != old and three_masters.owner(slot) == new
        assert mapped(client, prefix) == new
        queued = [q.conversation_id for q in await router.queue(T0 + 1)]
        assert queued == [f"v{i}" for i in range(1, n + 1)]
        assignment = await router.accept(offer.offer_id, "a", T0 + 1)
        assert assignment.conversation_id == "c0"
        assert loads(await router.agents()) == {"a": ["c0"]}
    assert_one_slot(three_masters, prefix)
