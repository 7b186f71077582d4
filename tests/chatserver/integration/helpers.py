from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.browser import ALL_SKILLS
from tests.support.netcut import NetCut
from tests.support.peer import Peer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess


async def open_chat(
    hub: Hub,
    agent: Peer,
    *,
    topic: str = "general",
    language: str = "en",
    server: ServerProcess | None = None,
    name: str | None = None,
) -> tuple[Peer, str, str]:
    """A visitor starts a chat that `agent` accepts. Returns (visitor, token, conversation_id)."""
    visitor, welcome = await hub.visitor(server=server)
    start: dict[str, Any] = {"type": "start", "topic": topic, "language": language}
    if name:
        start["name"] = name
    queued = await visitor.request(start, expect="queued")
    conv = queued["conversation_id"]
    offer = await agent.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await visitor.expect("assigned", conversation_id=conv, timeout=10)
    return visitor, welcome["token"], conv


def stream(peer: Peer, conv: str) -> list[tuple[int, str, Any]]:
    """The stored events a peer has received for a conversation, as (seq, type, text|client_id)."""
    return [
        (f["seq"], f["type"], f.get("client_id") or f.get("text"))
        for f in peer.inbox
        if f.get("conversation_id") == conv and "seq" in f and f["type"] != "ack"
    ]


def assert_exactly_once_in_order(seqs: list[int]) -> None:
    assert seqs == sorted(set(seqs)), f"duplicates or disorder: {seqs}"


@asynccontextmanager
async def hub_behind_a_redis_cut(
    data_dir: Path, redis: RedisServer, agents: dict[str, dict[str, int] | None]
) -> AsyncIterator[tuple[Hub, NetCut]]:
    """A hub process that reaches ``redis`` through a proxy the test can cut (`NetCut`), with
    these agents (username → skills, None for the default ones) in its store."""
    proxy = await NetCut(redis.port).start()
    hub = Hub(data_dir, redis, {}, redis_url=f"redis://127.0.0.1:{proxy.port}")
    await asyncio.to_thread(data_dir.mkdir)
    for username, skills in agents.items():
        await add_agent(data_dir, username, skills=skills, display_name=f"{username.title()} Lee")
    # The proxy runs on this event loop: wait for the server off it.
    await asyncio.to_thread(hub.start_server)
    try:
        yield hub, proxy
    finally:
        await hub.close()
        await proxy.close()


@pytest.fixture
async def ann_behind_a_redis_cut(
    tmp_path: Path, private_redis: RedisServer
) -> AsyncIterator[tuple[Hub, NetCut]]:
    """`hub_behind_a_redis_cut` with one agent, Ann Lee, who has every skill."""
    async with hub_behind_a_redis_cut(
        tmp_path / "data", private_redis, {"ann": ALL_SKILLS}
    ) as both:
        yield both
