"""An agent changed from the command line (`chatserver agents set|disable`), on the data folder of
a running hub, goes the admin page's way (`chatserver.core.admin`): the router has the new
skills at once, the hub holding the agent's socket follows the announcement, and the audit log
records each change with the command line as its actor."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from tests.admin.conftest import ADMIN, api, start_hub
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.server import run_cli


async def hub_followed(hub: Hub, node: str = "n0") -> None:
    """A barrier: the hub process ran a whole tick begun after this call. Each tick starts with
    the node's heartbeat and ends reading the changes stream, so once the heartbeat has moved
    twice, every change announced before the call has been applied there."""
    redis = aioredis.Redis.from_url(hub.redis.url)
    key = f"{hub.env['CHATSERVER_REDIS_PREFIX']}:nodes"
    try:
        beats = [await redis.zscore(key, node)]
        deadline = time.monotonic() + 10
        while len(beats) < 3:
            assert time.monotonic() < deadline, "the hub stopped ticking"
            beat = await redis.zscore(key, node)
            if beat != beats[-1]:
                beats.append(beat)
            else:
                await asyncio.sleep(0.02)
    finally:
        await redis.aclose()


async def test_an_agent_changed_from_the_command_line_is_routed_announced_and_audited(
    hub: Hub,
) -> None:
    kim_id = await add_agent(
        hub.data_dir, "kim", skills={"general": 3, "en": 5}, display_name="Kim"
    )
    (server,) = await start_hub(hub)
    kim, _ = await hub.agent("kim")
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "technical", "language": "en"}, expect="queued"
    )
    # The command line reaches the hubs' Redis as the hubs do (REDIS_URL, the same prefix).
    env = {"REDIS_URL": hub.redis.url, **hub.env}
    done = await asyncio.to_thread(
        run_cli, hub.data_dir, "agents", "set", "kim",
        "--skills", "general:3,technical:2,en:5", "--display-name", "Kim Tran", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "agent kim updated: display_name, skills" in done.stderr

    # The router has kim's new skills at once: the technical chat waiting is offered to kim.
    offer = await kim.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
    # The hub followed the announcement: kim's socket holds the new record, and the visitor
    # meets "Kim Tran".
    await hub_followed(hub)
    await kim.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    assigned = await visitor.expect("assigned", timeout=10)
    assert assigned["agent"] == {"display_name": "Kim Tran"}

    done = await asyncio.to_thread(run_cli, hub.data_dir, "agents", "disable", "kim", env=env)
    assert done.returncode == 0, done.stderr
    assert await kim.wait_closed(5) == 4401

    # Each change in the audit log, as the admin page records it, by the command line.
    token = await hub.login(ADMIN)
    log = await api(server, "GET", "/api/v1/analytics/audit", token=token)
    entries = [(e["actor"], e["action"], e["details"]) for e in log.json()["entries"]]
    assert entries[:2] == [
        ("cli", "agent_disabled", {"agent_id": kim_id, "username": "kim"}),
        (
            "cli",
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
