"""The Lua side: one file per state change with its KEYS/ARGV header, reload after SCRIPT
FLUSH, one hash tag for every key — proven on a real (one-node) Redis Cluster."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from routing import ConversationRequest, Router, RoutingConfig
from routing._scripts import LIBRARY, SCRIPT_NAMES, Scripts, library_source, script_source
from tests.routing.conftest import T0, online
from tests.support.redis_server import redis_server_binary

LUA = Path(str(resources.files("routing").joinpath("lua")))


def test_one_lua_file_per_script_with_a_keys_argv_header() -> None:
    files = sorted(p.stem for p in LUA.glob("*.lua"))
    assert files == sorted(SCRIPT_NAMES)
    for name in SCRIPT_NAMES:
        text = (LUA / f"{name}.lua").read_text()
        header = text.split("\n\n")[0].splitlines()
        assert header[0].startswith(f"-- {name}.lua — "), name
        assert any(line.startswith("-- KEYS[1] ") for line in header), name
        assert any(line.startswith("-- ARGV[1] now (ms)") for line in header), name
        assert script_source(name).endswith(text)


def test_the_library_is_every_lib_file_once_in_its_order() -> None:
    """Every file under ``lua/lib`` is joined, in ``LIBRARY`` order, in front of each script;
    each says what it holds, and no helper is defined twice across them."""
    assert sorted(p.stem for p in (LUA / "lib").glob("*.lua")) == sorted(LIBRARY)
    texts = [(LUA / "lib" / f"{part}.lua").read_text() for part in LIBRARY]
    assert library_source() == "\n".join(texts)
    for part, text in zip(LIBRARY, texts, strict=True):
        assert text.startswith(f"-- lib/{part}.lua — "), part
    defined = re.findall(r"^(?:local )?function ([\w.]+)", library_source(), re.MULTILINE)
    assert len(defined) == len(set(defined)), sorted(d for d in defined if defined.count(d) > 1)
    assert library_source().rstrip().endswith("\nL.init(KEYS, ARGV)")
    for name in SCRIPT_NAMES:
        assert script_source(name).startswith(library_source() + "\n")


async def scenario(router: Router) -> None:
    """Every script at least once."""
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


async def test_scripts_reload_after_script_flush(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    router = Router(redis, config, node_id="n1")
    await redis.script_flush()
    sha = router._scripts["request"].sha
    assert await redis.script_exists(sha) == [False]
    await scenario(router)
    assert await redis.script_exists(sha) == [True]
    await redis.script_flush()  # again, mid-life
    await online(router, "b", {"general": 1, "en": 1}, 1, T0 + 50)
    await redis.script_flush()  # and under a batch (plain EVALSHA pipeline)
    results = (
        await router.batch()
        .heartbeat(T0 + 51)
        .request(ConversationRequest("c9", "general", "en"), T0 + 51)
        .execute()
    )
    assert results[0] is None and results[1].status == "queued"  # b took c2 when it came


async def test_every_key_carries_the_hash_tag(redis: aioredis.Redis, config: RoutingConfig) -> None:
    router = Router(redis, config, node_id="n1")
    declared: list[str] = []
    for name in SCRIPT_NAMES:
        script = router._scripts[name]
        original = script.__call__

        async def spy(keys: list[str], args: list[object], _orig: object = original) -> object:
            declared.extend(keys)
            return await _orig(keys=keys, args=args)  # type: ignore[operator]

        router._scripts._by_name[name] = spy  # type: ignore[assignment]
    await scenario(router)
    stored = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("*")]
    assert stored and all(k.startswith("{cs}:") for k in stored)
    assert {key_slot(k.encode()) for k in stored + declared} == {key_slot(b"{cs}")}


def _cli(port: int, *args: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    return done.stdout.strip()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@pytest.fixture(scope="module")
def cluster_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A one-node Redis Cluster owning every slot."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    port = _cluster_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(tmp_path / "nodes.conf"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while _cli(port, "ping") != "PONG":
            assert time.monotonic() < deadline, "cluster node did not start"
            time.sleep(0.05)
        assert _cli(port, "cluster", "addslotsrange", "0", "16383") == "OK"
        while "cluster_state:ok" not in _cli(port, "cluster", "info"):
            assert time.monotonic() < deadline, "cluster did not become ok"
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("strict", [False, True])
async def test_scripts_run_on_redis_cluster(
    cluster_node: int, config: RoutingConfig, strict: bool
) -> None:
    """The scripts run on Redis Cluster. Strict (#!lua) scripts make Redis refuse any key
    outside the declared keys' slot, so the scenario passing proves the hash tag holds."""
    client = RedisCluster(host="127.0.0.1", port=cluster_node)
    await client.flushall()
    try:
        router = Router(client, config, node_id="n1")  # type: ignore[arg-type]
        router._scripts = Scripts(client, strict=strict)  # type: ignore[arg-type]
        await scenario(router)
        # What Redis does to a strict script that strays from its slot:
        with pytest.raises(Exception, match="do not hash to the same slot"):
            await client.eval("#!lua\nreturn redis.call('GET', 'other')", 1, "{cs}:agents")
    finally:
        await client.aclose()
        await asyncio.sleep(0)


async def test_configuration_is_stored_again_when_redis_loses_it(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    router = Router(redis, config, node_id="n1")
    await online(router, "a", {"general": 1, "en": 1}, 1, T0)
    key = router._calls.config_key
    assert key.startswith("{cs}:config:") and await redis.exists(key)
    # A script that finds no configuration stops before writing anything.
    await redis.delete(key)
    call = router._calls.request(ConversationRequest("c1", "general", "en"), T0)
    with pytest.raises(ResponseError, match="NOCONFIG"):
        await router._scripts["request"](keys=call.keys, args=call.args)
    assert await redis.exists("{cs}:conv:c1") == 0
    # The router stores it again and retries, one call at a time or in a batch.
    result = await router.request(ConversationRequest("c1", "general", "en"), T0)
    assert result.status == "offered" and await redis.exists(key)
    await redis.delete(key)
    results = (
        await router.batch()
        .request(ConversationRequest("c2", "general", "en"), T0)
        .tick(T0)
        .execute()
    )
    assert results[0].status == "queued" and results[1].expired == []
