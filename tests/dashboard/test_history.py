"""The charts over a fortnight of generated history (`chatserver.analytics.sample`): every
hour's and every day's figures equal what this test works out from the generator's own
description of what it wrote. Its full-page shot is the README's screenshot (copied to
docs/images/dashboard.png)."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from chatserver.analytics.sample import SampleConversation, generate
from tests.chatserver.integration.conftest import Hub
from tests.dashboard.conftest import (
    StaffPage,
    accept,
    nearest_rank,
    say,
    start_hub,
    store_rows,
    visitor_starts,
)
from tests.dashboard.test_scenario import fixed, near, table_rows
from tests.support.browser import Shots

pytestmark = [pytest.mark.browser, pytest.mark.clock_shifted]


def hour_of(c: SampleConversation) -> str:
    return time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(c.created_ms // 1000))


def day_of(c: SampleConversation) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(c.created_ms // 1000))


@pytest.mark.sqlite_only  # the sample generator writes a SQLite file
async def test_charts_over_generated_history(hub: Hub, browser: Browser, shots: Shots) -> None:
    # Thirteen days of history up to the start of the current hour, whatever hour that is (the
    # clock_shifted runs put it at 23:30 and 00:30 UTC and on a DST night).
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    today = this_hour.date().isoformat()
    start = (this_hour - timedelta(days=13)).replace(tzinfo=None).isoformat()
    sample = generate(hub.data_dir / "chat.db", conversations=700, days=13, seed=5, start=start)
    await start_hub(hub)
    # A little live activity for the floor.
    ann, _ = await hub.agent("ann")
    _, c1 = await visitor_starts(hub, "Grace Holland", "billing", "Where is my refund?")
    await accept({"ann": ann}, c1)
    await say(ann, c1, "Checking that for you now.")
    await hub.agent("bob", online=False)
    _, c2 = await visitor_starts(hub, "Henry Walsh", "technical", "Sync is slow")
    _, c3 = await visitor_starts(hub, "Lucía Fernández", "account", "Cambiar mi correo")
    # The live chats' hours of arrival, as stored (c1 was served).
    stored = {r["id"]: r for r in store_rows(hub.data_dir)}
    live_hours = [stored[c]["created"][:13] + ":00:00Z" for c in (c1, c2, c3)]
    served_hours = live_hours[:1]

    sue = await StaffPage.open(browser, hub.server.http)
    page = sue.page
    await expect(sue.tile("Waiting")).to_have_text("2")

    # Hours: the last 24 up to the current one, the live chats included.
    # The charts arrive after the page: wait for their tables to fill.
    await expect(page.locator("#chart-csat-topic tbody tr").first).to_be_attached()
    await expect(page.locator("#chart-conversations tbody tr")).to_have_count(24)
    conv_rows = await table_rows(page.get_by_role("table", name="Conversations per hour, figures"))
    wait_rows = await table_rows(page.get_by_role("table", name="Wait time per hour, figures"))
    gone_rows = await table_rows(page.get_by_role("table", name="Abandoned per hour, figures"))
    assert len(conv_rows) == 24
    by_hour: defaultdict[str, list[SampleConversation]] = defaultdict(list)
    for c in sample.conversations:
        by_hour[hour_of(c)].append(c)
    assert sum(1 for r in conv_rows if int(r[1]) > 0) > 5
    for conv_row, wait_row, gone_row in zip(conv_rows, wait_rows, gone_rows, strict=True):
        hour = conv_row[0]
        mine = by_hour.get(hour, [])
        waits = [(c.first_assigned_ms - c.created_ms) / 1000 for c in mine if c.first_assigned_ms]
        extra = live_hours.count(hour)
        served_extra = served_hours.count(hour)
        assert conv_row[1:] == [str(len(mine) + extra), str(len(waits) + served_extra)], hour
        assert gone_row[1:] == [str(sum(c.abandoned for c in mine))], hour
        if hour not in served_hours:
            assert near(wait_row[1], nearest_rank(waits, 50)), wait_row
            assert near(wait_row[2], nearest_rank(waits, 90)), wait_row

    # Days: every day the history touches, up to today (the live chats are not rated).
    day_rows = await table_rows(page.get_by_role("table", name="CSAT by day, figures"))
    assert [r[0] for r in day_rows] == sorted({day_of(c) for c in sample.conversations} | {today})
    by_day: defaultdict[str, list[int]] = defaultdict(list)
    for c in sample.conversations:
        if c.rating is not None:
            by_day[day_of(c)].append(c.rating)
    for day, csat, rated in day_rows:
        scores = by_day[day]
        if not scores:
            assert [csat, rated] == ["—", "0"], day
            continue
        assert [csat, rated] == [fixed(sum(scores) / len(scores), 3), str(len(scores))], day
    topic_rows = {
        r[0]: r[1:]
        for r in await table_rows(page.get_by_role("table", name="CSAT by topic, figures"))
    }
    for topic in ("general", "billing", "account", "technical"):
        scores = [
            c.rating for c in sample.conversations if c.topic == topic and c.rating is not None
        ]
        assert topic_rows[topic] == [fixed(sum(scores) / len(scores), 3), str(len(scores))], topic

    # The agent table shows the generated agents of the last week.
    perf = page.get_by_role("table", name="Agent performance", exact=False)
    await expect(perf.locator("tbody tr").first).to_be_visible()
    assert len(await table_rows(perf)) >= 6
    await expect(page.locator(".chart-empty:visible")).to_have_count(0)
    await page.wait_for_timeout(300)
    await shots.take(page, "dashboard-history")
    assert await sue.csp_violations() == []
    # docs/images/dashboard.png is a copy of this one
    await page.screenshot(path=str(shots.dir / "dashboard-history-full.png"), full_page=True)
    # The detector works: an inline style attribute is refused and reported.
    await page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<b style=\"color:red\">x</b>')"
    )
    await page.wait_for_timeout(100)
    assert any(v.startswith("style-src") for v in await sue.csp_violations())
    assert any("Content Security Policy" in e for e in sue.errors)
    sue.errors.clear()
    # The conversation list pages through history, by cursor.
    await page.get_by_role("link", name="Conversations").click()
    await expect(page.get_by_text(f"{len(sample.conversations) + 3} conversations")).to_be_visible()
    listing = page.get_by_role("table", name="Conversations, newest first")
    first_link = listing.locator("tbody tr a").first  # the newest row's conversation
    first_row = await first_link.get_attribute("href")
    assert first_row is not None
    await page.get_by_role("link", name="Older →").click()
    await expect(page).to_have_url(re.compile(r"cursor="))
    await expect(first_link).not_to_have_attribute("href", first_row)
    # Filters survive paging.
    await page.get_by_role("combobox", name="Topic").select_option("billing")
    await page.get_by_role("button", name="Search").click()
    billing = sum(1 for c in sample.conversations if c.topic == "billing") + 1  # + Grace Holland
    await expect(page.get_by_text(f"{billing} conversations")).to_be_visible()
    await expect(page.get_by_role("link", name="← Newer")).to_have_count(0)  # the first page
    billing_first = await first_link.get_attribute("href")
    assert billing_first is not None
    await page.get_by_role("link", name="Older →").click()
    await expect(page.get_by_text(f"{billing} conversations")).to_be_visible()
    await expect(page.get_by_role("combobox", name="Topic")).to_have_value("billing")
    await expect(listing.locator("tbody tr")).to_have_count(25)
    await expect(listing.locator(".chip.topic")).to_have_text(["billing"] * 25)
    await expect(first_link).not_to_have_attribute("href", billing_first)
    await page.get_by_role("link", name="← Newer").click()
    await expect(first_link).to_have_attribute("href", billing_first)
    await expect(listing.locator("tbody tr")).to_have_count(25)
    await shots.take(page, "list-page-2")
    assert sue.errors == []
