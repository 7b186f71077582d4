"""A hub that cannot reach Redis for a moment when the agent clicks Accept: the accept is
answered `unavailable`, the card stays (its button says "Accepting…") and the console sends the
accept again by itself until it goes through — the offer is never dropped on the floor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.chatserver.integration.helpers import hub_behind_a_redis_cut
from tests.console.conftest import Console, visitor_starts
from tests.support.browser import ALL_SKILLS, Shots
from tests.support.netcut import NetCut
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.browser


@pytest.fixture
async def redis_cut(
    tmp_path: Path, private_redis: RedisServer
) -> AsyncIterator[tuple[Hub, NetCut]]:
    async with hub_behind_a_redis_cut(
        tmp_path / "data", private_redis, {"ann": ALL_SKILLS}
    ) as both:
        yield both


async def unavailable_answers(hub: Hub) -> int:
    """How many `unavailable` errors the hub has sent (its /metrics)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{hub.server.http}/metrics")).text
    for line in text.splitlines():
        if line.startswith('chat_errors_total{code="unavailable"}'):
            return int(float(line.split()[-1]))
    return 0


async def test_an_accept_refused_for_now_is_sent_again_until_it_lands(
    redis_cut: tuple[Hub, NetCut], browser: Browser, shots: Shots
) -> None:
    hub, proxy = redis_cut
    ann = await Console.open(browser, hub.server.http)
    await ann.go_online()
    visitor, conv = await visitor_starts(hub, "Grace Holland")
    card = ann.offer("Grace Holland")
    await expect(card).to_be_visible()
    proxy.cut()
    await card.get_by_role("button", name="Accept").click()
    await expect(card.get_by_role("button", name="Accepting…")).to_be_visible()
    for _ in range(100):
        if await unavailable_answers(hub) >= 2:
            break
        await asyncio.sleep(0.1)
    # Refused (at least once more after the click): else the test would prove nothing.
    assert await unavailable_answers(hub) >= 2
    await expect(card).to_be_visible()
    await shots.take(ann.page, "accepting-while-redis-is-away")
    proxy.restore()
    await expect(ann.page.get_by_role("tab", name="Grace Holland")).to_be_visible(timeout=20_000)
    await expect(card).to_have_count(0)
    await visitor.expect("assigned", conversation_id=conv, timeout=10)
    await shots.take(ann.page, "accepted-after-the-retry")
    assert ann.errors == []
    await ann.close()
