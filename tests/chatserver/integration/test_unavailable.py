"""When Redis is really out of reach, a command is answered `unavailable`, and sending the same
frame again once it is back finishes the job exactly once — nothing stranded, nothing doubled.
The hub reaches Redis through a proxy the test cuts (tests.support.netcut.NetCut); /readyz says
what the commands meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.chatserver.integration.conftest import Hub
from tests.chatserver.integration.helpers import hub_behind_a_redis_cut
from tests.support.netcut import NetCut
from tests.support.redis_server import RedisServer
from tests.support.stores import query


@pytest.fixture
async def cut_hub(tmp_path: Path, private_redis: RedisServer) -> AsyncIterator[tuple[Hub, NetCut]]:
    async with hub_behind_a_redis_cut(tmp_path / "data", private_redis, {"max": None}) as both:
        yield both


async def ready(hub: Hub) -> tuple[int, dict[str, str]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{hub.server.http}/readyz", timeout=5)
    return answer.status_code, answer.json()


async def ready_again(hub: Hub) -> None:
    """After the cut: /readyz turns 200 once the hub reaches Redis again (its first ping may
    meet a connection the cut closed)."""
    for _ in range(50):
        if (await ready(hub))[0] == 200:
            return
    raise AssertionError("/readyz never came back")


START = {"type": "start", "topic": "general", "language": "en", "text": "My parcel is late"}


async def test_a_start_answered_unavailable_is_finished_by_sending_it_again(
    cut_hub: tuple[Hub, NetCut],
) -> None:
    hub, proxy = cut_hub
    agent, _ = await hub.agent("max")
    visitor, welcome = await hub.visitor()
    proxy.cut()
    refused = await visitor.request(dict(START), expect="error", timeout=15)
    assert refused["code"] == "unavailable"
    status, checks = await ready(hub)
    assert status == 503 and checks["redis"].startswith("error")

    proxy.restore()
    await ready_again(hub)
    queued = await visitor.until_answered(START, expect="queued")
    conv = queued["conversation_id"]
    offer = await agent.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await visitor.expect("assigned", conversation_id=conv, timeout=10)
    # One conversation, its start and its first message stored once each.
    db = hub.data_dir
    assert query(db, "SELECT id FROM conversations") == [(conv,)]
    kinds = [
        k
        for (k,) in query(
            db, "SELECT kind FROM events WHERE conversation_id = ? ORDER BY seq", [conv]
        )
    ]
    assert kinds == ["start", "message", "assigned"]
    assert welcome["token"]


async def test_a_stored_start_is_routed_when_the_visitor_comes_back(
    cut_hub: tuple[Hub, NetCut],
) -> None:
    """The widget may reload instead of retrying: its resume puts the conversation in the
    router's queue."""
    hub, proxy = cut_hub
    agent, _ = await hub.agent("max")
    visitor, welcome = await hub.visitor()
    proxy.cut()
    await visitor.request(dict(START), expect="error", timeout=15)
    await visitor.close()
    proxy.restore()
    again, back = await hub.visitor(token=welcome["token"])
    (conv,) = [c["conversation_id"] for c in back["conversations"] if c["status"] == "queued"]
    await again.until_answered(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, "resumed"
    )
    offer = await agent.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv


async def test_an_accept_answered_unavailable_is_taken_by_sending_it_again(
    cut_hub: tuple[Hub, NetCut],
) -> None:
    hub, proxy = cut_hub
    agent, _ = await hub.agent("max")
    visitor, _ = await hub.visitor()
    conv = (await visitor.request(dict(START), expect="queued"))["conversation_id"]
    offer = await agent.expect("offer", timeout=10)
    accept = {"type": "accept", "offer_id": offer["offer_id"]}
    proxy.cut()
    refused = await agent.request(dict(accept), expect="error", timeout=15)
    assert refused["code"] == "unavailable"
    proxy.restore()
    first = await agent.until_answered(accept, expect="assigned")
    # Once more (a retry whose answer was lost): the same assignment, stored once.
    second = await agent.request(dict(accept), expect="assigned", timeout=15)
    assert first["seq"] == second["seq"] and first["conversation_id"] == conv
    await visitor.expect("assigned", conversation_id=conv, timeout=10)
    # The agent holds it: a message goes through — and no second `assigned` came before it.
    await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "m1", "text": "Hello"}
    )
    await visitor.expect("message", conversation_id=conv, text="Hello")
    assert visitor.take("assigned") == []
    db = hub.data_dir
    assigned = query(
        db, "SELECT seq FROM events WHERE conversation_id = ? AND kind = 'assigned'", [conv]
    )
    assert assigned == [(first["seq"],)]
    assert query(db, "SELECT count(*) FROM decisions WHERE conversation_id = ?", [conv]) == [(1,)]
