"""The bots' tiles and the list's bot conversations: a bot-resolved, a handed-over, a bot-held
and ordinary conversations of today, written into the hub's store as docs/bots.md stores them
(`tests.analytics.bot_seed`); the tiles, the API and the list show them apart, and the
handed-over conversation's wait counts from its handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.analytics.bot_seed import BOT_NAME, seed
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.dashboard.conftest import AGENTS, StaffPage, api
from tests.support.browser import ALL_SKILLS, Shots
from tests.support.stores import open_test_store

pytestmark = pytest.mark.browser


def _today_start() -> datetime:
    """Ten minutes ago, or just after midnight (UTC) if that is sooner: the seeded
    conversations arrive today."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(minutes=10), midnight + timedelta(seconds=1))


async def test_bot_tiles_api_and_list(hub: Hub, browser: Browser, shots: Shots) -> None:
    ann = await add_agent(hub.data_dir, "ann", skills=ALL_SKILLS, capacity=2,
                          display_name=AGENTS["ann"])  # fmt: skip
    await add_agent(hub.data_dir, "sue", roles=("supervisor",), display_name="Sue Park")
    store = open_test_store(hub.data_dir)
    async with store:
        ids = await seed(store, _today_start(), ann, AGENTS["ann"])
    hub.start_server()

    answer = await api(hub, "/api/v1/dashboard/bots")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    assert (data["held"], data["resolved"], data["handed_over"]) == (1, 1, 1)
    assert data["since"] == datetime.now(UTC).strftime("%Y-%m-%dT00:00:00.000Z")
    assert (await api(hub, "/api/v1/dashboard/bots", None)).status_code == 401

    listed = (await api(hub, "/api/v1/dashboard/conversations?per_page=10")).json()
    rows = {r["conversation_id"]: r for r in listed["rows"]}
    assert rows[ids.held]["bot"] == BOT_NAME
    assert rows[ids.handed_over]["bot"] is None and rows[ids.handed_over]["agent"] == "Ann Lee"
    assert rows[ids.resolved]["bot"] is None  # closed: the bot holds it no more
    assert rows[ids.served]["bot"] is None
    # The charts' waits: the handed-over conversation's from its handoff (30 s), not from its
    # arrival (150 s).
    charts = (await api(hub, "/api/v1/dashboard/charts?hours=24&days=1")).json()
    waits = [r for r in charts["hours"]["rows"] if r["wait_p50_s"] is not None]
    served = sum(r["served"] for r in waits)
    assert served == 2
    assert sum(r["bot_resolved"] for r in charts["hours"]["rows"]) == 1
    assert sum(r["handed_over"] for r in charts["hours"]["rows"]) == 1
    highest = max(r["wait_p90_s"] for r in waits)
    assert highest == pytest.approx(ids.handed_over_wait_s, rel=0.01)  # never 150 s

    sue = await StaffPage.open(browser, hub.server.http)
    page = sue.page
    await expect(sue.tile("Bots hold")).to_have_text("1")
    await expect(sue.tile("Bot-resolved today")).to_have_text("1")
    await expect(sue.tile("Handed over today")).to_have_text("1")
    await expect(sue.tile("Waiting")).to_have_text("0")  # the live tiles beside them still work
    await shots.take(page, "dashboard-bot-tiles")

    await page.goto(f"{hub.server.http}/dashboard/conversations")
    held_row = page.get_by_role("row").filter(has=page.locator(f'a[href$="/{ids.held}"]'))
    await expect(held_row.locator(".bot-chip")).to_have_text("Bot")
    await expect(held_row).to_contain_text(BOT_NAME)
    handed_row = page.get_by_role("row").filter(has=page.locator(f'a[href$="/{ids.handed_over}"]'))
    await expect(handed_row).to_contain_text("Ann Lee")
    await expect(handed_row.locator(".bot-chip")).to_have_count(0)
    await expect(page.locator(".bot-chip")).to_have_count(1)
    await shots.take(page, "conversation-list-bot")
    assert not sue.errors, sue.errors
    assert not await sue.csp_violations()
