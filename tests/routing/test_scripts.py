"""The Lua side: one file per state change with its KEYS/ARGV header, reload after SCRIPT
FLUSH, one hash tag for every key — proven on a real Redis Cluster of one node and of three
masters (tests/routing/test_cluster.py: what that means on three)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from routing import ConversationRequest, Router, RoutingConfig
from routing._scripts import LIBRARY, SCRIPT_NAMES, Scripts, library_source, script_source
from tests.routing.conftest import T0, cluster_client, every_script, online
from tests.support.redis_cluster import LocalCluster

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


async def test_scripts_reload_after_script_flush(
    redis: aioredis.Redis, config: RoutingConfig
) -> None:
    router = Router(redis, config, node_id="n1")
    await redis.script_flush()
    sha = router._scripts["request"].sha
    assert await redis.script_exists(sha) == [False]
    await every_script(router)
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
    await every_script(router)
    stored = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("*")]
    assert stored and all(k.startswith("{cs}:") for k in stored)
    assert {key_slot(k.encode()) for k in stored + declared} == {key_slot(b"{cs}")}


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("cluster", ["one_node_cluster", "three_masters"])
async def test_scripts_run_on_redis_cluster(
    request: pytest.FixtureRequest, cluster: str, config: RoutingConfig, strict: bool
) -> None:
    """The scripts run on Redis Cluster, of one node and of three masters. Strict (#!lua)
    scripts make Redis refuse any key outside the declared keys' slot, so the scenario passing
    proves the hash tag holds."""
    nodes: LocalCluster = request.getfixturevalue(cluster)
    async with cluster_client(nodes) as client:
        await client.flushall()
        router = Router(client, config, node_id="n1")  # type: ignore[arg-type]
        router._scripts = Scripts(client, strict=strict)  # type: ignore[arg-type]
        await every_script(router)
        # What Redis does to a strict script that strays from its slot (on three masters,
        # 'other' is on another one: the script may not even reach it).
        same_master = nodes.owner(key_slot(b"other")) == nodes.owner(key_slot(b"{cs}"))
        refusal = "do not hash to the same slot" if same_master else "non local key"
        with pytest.raises(Exception, match=refusal):
            await client.eval("#!lua\nreturn redis.call('GET', 'other')", 1, "{cs}:agents")


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
