"""The live floor in Chromium: figures follow the hub within 2 s; SLA breaches stand out."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.dashboard.conftest import (
    StaffPage,
    accept,
    say,
    set_status,
    start_hub,
    visitor_starts,
)
from tests.support.browser import Shots
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.browser

WITHIN_MS = 2000


@pytest.mark.clock_shifted
async def test_live_figures_follow_arrivals_and_accepts_within_2_s(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await start_hub(hub)
    sue = await StaffPage.open(browser, hub.server.http)
    page = sue.page
    await expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    await expect(sue.tile("Waiting")).to_have_text("0")
    await expect(page.get_by_text("No chats waiting")).to_be_visible()
    await expect(page.get_by_text("No agent is online or away")).to_be_visible()
    await expect(page.get_by_text("Offline (2): Ann Lee, Bob Okafor")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("Live")
    await expect(page.locator(".live-time")).to_contain_text("· updated")
    await shots.take(page, "empty-floor")

    # A visitor arrives while nobody is online: the floor shows them waiting.
    t0 = time.monotonic()
    visitor, conv = await visitor_starts(hub, "Mia Wong", "billing")
    await expect(sue.tile("Waiting")).to_have_text("1", timeout=WITHIN_MS)
    arrived_ms = (time.monotonic() - t0) * 1000
    waiting = page.get_by_role("table", name="Waiting chats")
    await expect(waiting.get_by_role("row").filter(has_text="Mia Wong")).to_contain_text("Queued")
    billing = page.get_by_role("table", name="Queues by topic").get_by_role("row", name="billing")
    await expect(billing.get_by_role("cell").first).to_have_text("1")

    # An agent comes online and accepts: waiting drops, the chat is active and held.
    ann, _ = await hub.agent("ann")
    t1 = time.monotonic()
    assert await accept({"ann": ann}, conv) == "ann"
    await expect(sue.tile("Waiting")).to_have_text("0", timeout=WITHIN_MS)
    await expect(sue.tile("Active chats")).to_have_text("1", timeout=WITHIN_MS)
    accepted_ms = (time.monotonic() - t1) * 1000
    row = page.get_by_role("table", name="Agents now").get_by_role("row").filter(has_text="Ann Lee")
    await expect(row).to_contain_text("online")
    await expect(row).to_contain_text("1 / 2")
    await expect(row.get_by_role("link", name="Mia Wong")).to_be_visible()
    await expect(sue.tile("Agents online")).to_have_text("1")
    await expect(page.get_by_text("Offline (1): Bob Okafor")).to_be_visible()
    await expect(sue.tile("Load")).to_have_text("1 / 2")
    await say(ann, conv, "Hello Mia, let me look.")
    await shots.take(page, "one-active")

    # The agent steps away: the status follows.
    await set_status(ann, "away")
    await expect(row).to_contain_text("away", timeout=WITHIN_MS)
    print(f"\nlive latency: arrival {arrived_ms:.0f} ms, accept {accepted_ms:.0f} ms")
    assert sue.errors == []
    await visitor.close()


@pytest.mark.clock_shifted
async def test_sla_breaches_are_highlighted_with_colour_and_text(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await start_hub(hub, CHATSERVER_SLA_WAIT_S="1.5")
    bob, _ = await hub.agent("bob", online=False)
    sue = await StaffPage.open(browser, hub.server.http)
    page = sue.page
    await expect(page.get_by_text("a chat waiting over 1.5 s")).to_be_visible()
    await visitor_starts(hub, "Layla Hassan", "technical")
    await visitor_starts(hub, "Carlos Martín", "account")
    long_name = "Maximiliana Alexandrovna Konstantinopoulou-Fitzwilliam de la Vega"
    await visitor_starts(hub, long_name, "account")
    waiting = page.get_by_role("table", name="Waiting chats")
    await expect(waiting.get_by_role("row")).to_have_count(4)
    # A long name is cut with an ellipsis (the whole of it in the tooltip).
    link = waiting.get_by_role("link", name=long_name)
    await expect(link).to_have_attribute("title", long_name)
    box = await link.bounding_box()
    assert box is not None and box["width"] <= 221
    # Under the threshold first, then over it.
    await expect(waiting.get_by_role("row", name="Layla Hassan")).to_contain_text("Over SLA")
    await expect(waiting.locator(".breach-row")).to_have_count(3)
    await expect(sue.tile("Over SLA")).to_have_text("3")
    await expect(page.get_by_role("group", name="Over SLA")).to_have_class("tile alarm")
    technical = page.get_by_role("table", name="Queues by topic").get_by_role(
        "row", name="technical"
    )
    await expect(technical).to_contain_text("Over SLA")
    await expect(technical).to_have_class("breach-row")
    general = page.get_by_role("table", name="Queues by topic").get_by_role("row", name="general")
    await expect(general).not_to_contain_text("Over SLA")
    await expect(
        page.get_by_role("table", name="Agents now")
        .get_by_role("row")
        .filter(has_text="Bob Okafor")
    ).to_contain_text("away")
    await shots.take(page, "sla-breach")
    assert sue.errors == []
    await bob.close()


async def test_a_plain_agent_sees_a_clear_403_page(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await start_hub(hub)
    ann = await StaffPage.open(browser, hub.server.http, username="ann")
    page = ann.page
    await expect(
        page.get_by_role("heading", name="The dashboard is for supervisors")
    ).to_be_visible()
    await expect(page.get_by_text("403 · FORBIDDEN")).to_be_visible()
    await expect(page.get_by_text("You are signed in as Ann Lee (agent).")).to_be_visible()
    await shots.take(page, "forbidden")
    await page.get_by_role("link", name="Back to the console").click()
    await expect(page).to_have_url(f"{hub.server.http}/console")
    # Signed out (a fresh context), the dashboard sends to the sign-in page.
    context = await browser.new_context()
    fresh = await context.new_page()
    await fresh.goto(f"{hub.server.http}/dashboard/conversations")
    await expect(fresh).to_have_url(f"{hub.server.http}/login")
    await context.close()


async def test_the_floor_says_when_the_live_state_is_unreachable(
    make_hub: Callable[[RedisServer], Hub],
    private_redis: RedisServer,
    browser: Browser,
    shots: Shots,
) -> None:
    h = make_hub(private_redis)
    try:
        await start_hub(h)
        sue = await StaffPage.open(browser, h.server.http)
        state = sue.page.get_by_role("status")
        await expect(state).to_have_text("Live")
        token = await h.login("sue")
        private_redis.kill()
        await expect(state).to_contain_text(
            "Connection lost, retrying… (the live state (Redis) is not answering; try again)"
        )
        async with httpx.AsyncClient() as http:
            r = await http.get(
                f"{h.server.http}/api/v1/dashboard/live",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert r.status_code == 503 and r.json()["error"] == "unavailable"
        await expect(sue.page.locator("#dashboard")).to_have_class("dash stale")
        await shots.take(sue.page, "redis-down")
        # Redis comes back (empty): the floor recovers by itself.
        private_redis.start()
        await expect(state).to_have_text("Live", timeout=20_000)
        await expect(sue.page.locator("#dashboard")).to_have_class("dash")
        await expect(sue.tile("Waiting")).to_have_text("0")
        sue.errors = [e for e in sue.errors if "503" not in e]
        assert sue.errors == []
    finally:
        await h.close()
