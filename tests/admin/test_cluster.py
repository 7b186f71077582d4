"""Admin changes across hub processes, through the API (no browser): concurrent topic edits on
two processes all land; an agent's new record reaches the process holding its socket (and
survives Redis losing its data); disabling closes that socket wherever it is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as aioredis

from tests.admin.conftest import ADMIN, api, start_hub, widget_config
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess


async def whole_tick(hub: Hub, server: ServerProcess, timeout: float = 10.0) -> None:
    """Return once ``server`` has run a whole tick that began after this call.

    A tick opens with the process's heartbeat (its score in ``{prefix}:nodes``, the tick's time)
    and ends by following the admins' change stream: the first new heartbeat seen after this
    call opens a tick that began after it, the next one comes after that tick ended.
    """
    key = f"{hub.env['CHATSERVER_REDIS_PREFIX']}:nodes"
    r = aioredis.Redis.from_url(hub.redis.url)
    try:
        last = await r.zscore(key, server.node_id or "")
        heartbeats = 0
        async with asyncio.timeout(timeout):
            while heartbeats < 2:
                await asyncio.sleep(0.02)
                score = await r.zscore(key, server.node_id or "")
                if score != last:
                    heartbeats, last = heartbeats + 1, score
    finally:
        await r.aclose()


async def test_concurrent_topic_edits_on_two_processes_all_land(hub: Hub) -> None:
    a, b = await start_hub(hub, servers=2)
    token = await hub.login(ADMIN)
    names = [f"t{i}" for i in range(8)]
    answers = await asyncio.gather(
        *(
            api(
                (a, b)[i % 2],
                "POST",
                "/api/v1/admin/topics",
                token=token,
                json={"name": name, "topic_level": 1, "language_level": 0, "relax": []},
            )
            for i, name in enumerate(names)
        )
    )
    assert [r.status_code for r in answers] == [200] * len(names), [r.text for r in answers]
    # Each edit was applied on top of the others (compare and set, retried): none is lost, and
    # both processes end up routing with the last version (each follows within a tick or two).
    expected = {"general", "billing", "account", "technical", *names}
    for server in (a, b):
        deadline = time.monotonic() + 30  # a loaded machine stretches the ticks
        while True:
            listing = (await api(server, "GET", "/api/v1/admin/topics", token=token)).json()
            if listing["version"] == len(names) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert listing["version"] == len(names), server.http
        assert {t["name"] for t in listing["topics"]} == expected, server.http
        assert set((await widget_config(server))["topics"]) == expected
    log = (await api(a, "GET", "/api/v1/analytics/audit?action=routing_edited", token=token)).json()
    assert sorted(e["details"]["version"] for e in log["entries"]) == list(range(1, len(names) + 1))
    assert sorted(e["details"]["topic"] for e in log["entries"]) == sorted(names)
    assert {e["actor"] for e in log["entries"]} == {ADMIN}


async def test_agent_changes_reach_the_process_holding_its_socket(
    make_hub: Callable[[RedisServer], Hub], private_redis: RedisServer
) -> None:
    hub: Hub = make_hub(private_redis)
    await add_agent(hub.data_dir, "kim", skills={"general": 3, "en": 5}, display_name="Kim")
    a, b = await start_hub(hub, servers=2)
    try:
        token = await hub.login(ADMIN)
        kim, _ = await hub.agent("kim", server=b)
        agents = (await api(a, "GET", "/api/v1/admin/agents", token=token)).json()["agents"]
        kim_id = next(x["id"] for x in agents if x["username"] == "kim")
        changed = await api(
            a,
            "PATCH",
            f"/api/v1/admin/agents/{kim_id}",
            token=token,
            json={"skills": {"general": 3, "technical": 2, "en": 5}, "display_name": "Kim Tran"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["changed"] == ["display_name", "skills"]
        assert changed.json()["revoked"] is False
        await whole_tick(hub, b)  # b reads the change stream at each tick: it has the new record

        # Redis loses everything: b re-registers kim from the record it holds — the new one.
        r = aioredis.Redis.from_url(private_redis.url)
        await r.flushall()
        await r.aclose()
        visitor, _ = await hub.visitor(server=a)
        queued = await visitor.request(
            {"type": "start", "topic": "technical", "language": "en"}, expect="queued", timeout=10
        )
        offer = await kim.expect("offer", timeout=15)
        assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
        await kim.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
        # The assignment carries the new display name: b's socket has the new record.
        assigned = await visitor.expect("assigned", timeout=10)
        assert assigned["agent"] == {"display_name": "Kim Tran"}

        # Disabled on a: its socket on b is closed within a tick or two.
        disabled = await api(a, "POST", f"/api/v1/admin/agents/{kim_id}/disable", token=token)
        assert disabled.status_code == 200 and disabled.json()["revoked"] is True
        assert await kim.wait_closed(5) == 4401

        # Who changed what is in the audit log (never a password).
        log = await api(a, "GET", "/api/v1/analytics/audit", token=token)
        entries = [(e["actor"], e["action"], e["details"]) for e in log.json()["entries"]]
        assert entries[:2] == [
            ("root", "agent_disabled", {"agent_id": kim_id, "username": "kim"}),
            (
                "root",
                "agent_changed",
                {
                    "agent_id": kim_id,
                    "username": "kim",
                    "display_name": "Kim Tran",
                    "skills": {"general": 3, "technical": 2, "en": 5},
                    "revoked": False,
                },
            ),
        ]
    finally:
        await hub.close()
