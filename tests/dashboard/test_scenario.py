"""After a scripted scenario — served, transferred, abandoned and waiting chats, notes, tags,
ratings — every figure the dashboard shows equals what this test works out itself from the
SQLite file: the live tiles, the agent table and the charts' figures (their hidden tables).
Then the conversation list and one conversation's page."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, expect

from chatserver.analytics.sketch import ACCURACY
from tests.chatserver.integration.conftest import Hub
from tests.dashboard.conftest import (
    StaffPage,
    accept,
    nearest_rank,
    say,
    set_status,
    start_hub,
    store_rows,
    visitor_starts,
)
from tests.support.browser import Shots
from tests.support.peer import Peer

pytestmark = [pytest.mark.browser, pytest.mark.clock_shifted]


def near(shown: str, want: float | None, digits: int = 3) -> bool:
    """A percentile as the page shows it (``digits`` decimals) against the exact nearest-rank
    value: within the figures' accuracy (percentiles come from log buckets, within 1 %)."""
    if want is None:
        return shown == "—"
    slack: float = ACCURACY * abs(want) + 0.5 / 10.0**digits
    return abs(float(shown) - want) <= slack


def near_seconds(shown: str, want: float | None) -> bool:
    """A percentile of seconds as the page shows it ("0.4 s", tenths below 10 s) against the
    exact nearest-rank value: within the figures' accuracy and the display's rounding."""
    if want is None:
        return shown == "—"
    unit = 0.1 if want < 10 else 1.0
    return abs(float(shown.removesuffix(" s")) - want) <= ACCURACY * abs(want) + unit / 2 + 1e-9


def fixed(x: float | None, digits: int) -> str:
    """``Number.toFixed``: the exact binary value rounded, halves up."""
    if x is None:
        return "—"
    return str(Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


async def close(peer: Peer, conv: str) -> None:
    await peer.request({"type": "close", "conversation_id": conv})


async def scenario(hub: Hub) -> dict[str, Any]:
    """Six conversations; returns the peers and ids the checks need."""
    ann, _ = await hub.agent("ann")
    bob, _ = await hub.agent("bob")
    agents = {"ann": ann, "bob": bob}
    other = {"ann": "bob", "bob": "ann"}

    # 1. Served, noted, tagged, closed by the agent, rated 5.
    v1, c1 = await visitor_starts(hub, "Emma Wilson", "billing", "I was charged twice")
    a1 = await accept(agents, c1)
    await say(v1, c1, "It happened on May 3rd.")
    await say(agents[a1], c1, "I see the duplicate charge; refunding it now.")
    await agents[a1].request({"type": "note", "conversation_id": c1, "text": "Refund #4821 issued"})
    await agents[a1].request(
        {"type": "tag", "conversation_id": c1, "tags": ["refund", "billing-error"]}
    )
    await close(agents[a1], c1)
    await v1.request({"type": "rate", "conversation_id": c1, "score": 5, "comment": "Fast, thanks"})

    # 2. Served, transferred to the other agent, closed, rated 2.
    v2, c2 = await visitor_starts(hub, "Liam Carter", "account", "I am locked out")
    # Not a wait for anything (`accept` waits for the offer): a pace. This chat waits 0.4 s
    # longer than the others, so the median and the 90th percentile of the waits the page
    # shows lie apart, and a mixed-up percentile would show.
    await asyncio.sleep(0.4)
    a2 = await accept(agents, c2)
    await say(agents[a2], c2, "Let me pass you to a colleague.")
    await agents[a2].request({"type": "transfer", "conversation_id": c2, "to_agent": other[a2]})
    b2 = await accept({other[a2]: agents[other[a2]]}, c2)
    await say(agents[b2], c2, "Your account is unlocked.")
    await close(agents[b2], c2)
    await v2.request({"type": "rate", "conversation_id": c2, "score": 2})

    # 3. Abandoned: nobody online, the visitor leaves the queue.
    await set_status(ann, "away")
    await set_status(bob, "away")
    # `queued` is answered once the chat is stored and in the queue: leaving now abandons it.
    v3, c3 = await visitor_starts(hub, "Olivia Brooks", "technical", "The app crashes")
    await close(v3, c3)
    await set_status(ann, "online")
    await set_status(bob, "online")

    # 4. Served and still active.
    v4, c4 = await visitor_starts(hub, "Noah Bennett", "general", "Quick question")
    a4 = await accept(agents, c4)
    await say(agents[a4], c4, "Sure, go ahead.")

    # 5. Served while bob is away (the router excludes him), closed by the visitor, not rated.
    await set_status(bob, "away")
    v5, c5 = await visitor_starts(hub, "Ava Turner", "billing", "Invoice copy please")
    a5 = await accept(agents, c5)
    assert a5 == "ann"
    await say(agents[a5], c5, "Sent to your e-mail.")
    await close(v5, c5)

    # 6. Waiting: everyone steps away.
    await set_status(ann, "away")
    await set_status(bob, "away")
    v6, c6 = await visitor_starts(hub, "James Foster", "account", "Change my e-mail")
    return {
        "convs": [c1, c2, c3, c4, c5, c6],
        "transfer": (a2, b2),
        "peers": [v1, v2, v3, v4, v5, v6],
    }


def expected_agents(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["assigned_ms"] is not None and r["last_agent"] is not None:
            by[r["last_agent"]].append(r)
    out = {}
    for username, mine in by.items():
        frts = [(r["frt_ms"] - r["created_ms"]) / 1000 for r in mine if r["frt_ms"]]
        handles = [
            (r["closed_ms"] - r["assigned_ms"]) / 1000 for r in mine if r["closed_ms"] is not None
        ]
        ratings = [r["rating"] for r in mine if r["rating"] is not None]
        out[username] = {
            "chats": len(mine),
            "frt50": nearest_rank(frts, 50),
            "frt90": nearest_rank(frts, 90),
            "handle50": nearest_rank(handles, 50),
            "csat": sum(ratings) / len(ratings) if ratings else None,
            "rated": len(ratings),
        }
    return out


def expected_hours(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["created"][:13] + ":00:00Z"].append(r)
    out = {}
    for hour, mine in by.items():
        waits = [(r["assigned_ms"] - r["created_ms"]) / 1000 for r in mine if r["assigned_ms"]]
        out[hour] = {
            "conversations": len(mine),
            "served": len(waits),
            "abandoned": sum(1 for r in mine if r["status"] == "closed" and not r["assigned_ms"]),
            "p50": nearest_rank(waits, 50),
            "p90": nearest_rank(waits, 90),
        }
    return out


async def table_rows(table: Locator) -> list[list[str]]:
    """The body rows of a (possibly visually hidden) table, as the text of each cell."""
    rows: list[list[str]] = await table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    return rows


async def test_the_dashboard_shows_what_the_store_holds(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await start_hub(hub)
    done = await scenario(hub)
    c1, c2, c3 = done["convs"][:3]
    rows = store_rows(hub.data_dir)
    assert len(rows) == 6
    by_id = {r["id"]: r for r in rows}
    assert by_id[c3]["status"] == "closed" and by_id[c3]["assigned_ms"] is None  # abandoned

    sue = await StaffPage.open(browser, hub.server.http)
    page = sue.page

    # Live tiles and the agents' held chats.
    waiting = sum(1 for r in rows if r["status"] in ("queued", "offered"))
    active = sum(1 for r in rows if r["status"] == "active")
    assert (waiting, active) == (1, 1)
    await expect(sue.tile("Waiting")).to_have_text(str(waiting))
    await expect(sue.tile("Active chats")).to_have_text(str(active))
    await expect(sue.tile("Agents online")).to_have_text("0")
    now_table = page.get_by_role("table", name="Agents now")
    for username, name in (("ann", "Ann Lee"), ("bob", "Bob Okafor")):
        held = [r for r in rows if r["status"] == "active" and r["holder"] == username]
        row = now_table.get_by_role("row").filter(has_text=name)
        await expect(row.get_by_role("link")).to_have_count(len(held))
        await expect(row).to_contain_text(f"{len(held)} / 2")
    waiting_table = page.get_by_role("table", name="Waiting chats")
    await expect(waiting_table.get_by_role("row").filter(has_text="James Foster")).to_be_visible()

    # The agent table (this week, the default period).
    perf = page.get_by_role("table", name="Agent performance", exact=False)
    want_agents = expected_agents(rows)
    await expect(perf.locator("tbody tr")).to_have_count(len(want_agents))
    shown = {r[0]: r[1:] for r in await table_rows(perf)}
    names = {"ann": "Ann Lee", "bob": "Bob Okafor"}
    assert set(shown) == {names[u] for u in want_agents}
    for username, want in want_agents.items():
        cells = shown[names[username]]
        assert [cells[0], cells[4], cells[5]] == [
            str(want["chats"]),
            fixed(want["csat"], 2),
            str(want["rated"]),
        ], username
        # Percentiles come from log buckets (within 1 %): one may round to the next tenth.
        for text, key in zip(cells[1:4], ("frt50", "frt90", "handle50"), strict=True):
            assert near_seconds(text, want[key]), (username, key, text, want[key])

    # The charts' figures: every hour of the last 24, and today's CSAT.
    # The charts arrive after the page: wait for their tables to fill.
    await expect(page.locator("#chart-csat-topic tbody tr").first).to_be_attached()
    await expect(page.locator("#chart-conversations tbody tr")).to_have_count(24)
    conv_rows = await table_rows(page.get_by_role("table", name="Conversations per hour, figures"))
    wait_rows = await table_rows(page.get_by_role("table", name="Wait time per hour, figures"))
    gone_rows = await table_rows(page.get_by_role("table", name="Abandoned per hour, figures"))
    assert len(conv_rows) == len(wait_rows) == len(gone_rows) == 24
    hours = expected_hours(rows)
    assert set(hours) <= {r[0] for r in conv_rows}
    zero = {"conversations": 0, "served": 0, "abandoned": 0, "p50": None, "p90": None}
    for conv_row, wait_row, gone_row in zip(conv_rows, wait_rows, gone_rows, strict=True):
        want = hours.get(conv_row[0], zero)
        assert conv_row == [conv_row[0], str(want["conversations"]), str(want["served"])]
        assert wait_row[0] == conv_row[0]
        assert near(wait_row[1], want["p50"]) and near(wait_row[2], want["p90"]), wait_row
        assert gone_row == [conv_row[0], str(want["abandoned"])]
    assert sum(int(r[1]) for r in conv_rows) == 6
    ratings = [r["rating"] for r in rows if r["rating"] is not None]
    day_rows = await table_rows(page.get_by_role("table", name="CSAT by day, figures"))
    assert len(day_rows) == 14
    today = rows[0]["created"][:10]
    assert day_rows[-1] == [today, fixed(sum(ratings) / len(ratings), 3), str(len(ratings))]
    assert all(r[1:] == ["—", "0"] for r in day_rows[:-1])
    topic_rows = await table_rows(page.get_by_role("table", name="CSAT by topic, figures"))
    want_topics = {}
    for topic in {r["topic"] for r in rows}:
        scores = [r["rating"] for r in rows if r["topic"] == topic and r["rating"] is not None]
        want_topics[topic] = [
            fixed(sum(scores) / len(scores) if scores else None, 3),
            str(len(scores)),
        ]
    assert {r[0]: r[1:] for r in topic_rows} == want_topics
    await expect(page.locator("#chart-csat-topic .chart-empty")).to_be_hidden()
    await shots.take(page, "dashboard")
    assert await sue.csp_violations() == []
    await page.screenshot(path=str(shots.dir / "dashboard-full.png"), full_page=True)

    # Another period: an empty one says so; a backwards one is refused with the API's reason.
    await page.get_by_role("textbox", name="From").fill("2020-01-01")
    await page.get_by_role("textbox", name="To").fill("2020-01-07")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_text("No conversations served in this period")).to_be_visible()
    await expect(perf).to_be_hidden()
    await page.get_by_role("textbox", name="From").fill("2020-01-09")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "“To” must be the same day as “From” or later."
    )
    await expect(page.get_by_text("No conversations served in this period")).to_be_hidden()
    # A date the browser lets through but the API refuses: its reason is shown as is.
    await page.get_by_role("textbox", name="From").evaluate("(i) => { i.type = 'text'; }")
    await page.get_by_role("textbox", name="To").fill("2020-03-05")
    await page.get_by_role("textbox", name="From").fill("2020-02-30")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_contain_text("since '2020-02-30': expected a date")
    await page.get_by_role("region", name="Agent performance").scroll_into_view_if_needed()
    await shots.take(page, "agent-period-error")

    # The conversation list: everything, then by tag, then by status.
    await page.get_by_role("link", name="Conversations").click()
    await expect(page.get_by_role("heading", name="Conversations", level=1)).to_be_visible()
    listing = page.get_by_role("table", name="Conversations, newest first")
    await expect(listing.locator("tbody tr")).to_have_count(6)
    await expect(page.locator("#result-count")).to_have_text("6 conversations")
    await expect(page.get_by_role("navigation", name="Pages")).to_have_count(0)  # one page
    await shots.take(page, "list")
    await page.get_by_role("textbox", name="Tag").fill("refund")
    await page.get_by_role("button", name="Search").click()
    await expect(listing.locator("tbody tr")).to_have_count(1)
    await expect(listing).to_contain_text("Emma Wilson")
    await expect(listing).to_contain_text("5/5")
    await page.get_by_role("link", name="Clear filters").click()
    await page.get_by_role("combobox", name="Status").select_option("closed")
    await page.get_by_role("button", name="Search").click()
    closed = sum(1 for r in rows if r["status"] == "closed")
    await expect(listing.locator("tbody tr")).to_have_count(closed)
    await page.get_by_role("combobox", name="Status").select_option("")
    await page.get_by_role("textbox", name="From").fill("tomorrow")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("alert")).to_contain_text("since 'tomorrow': expected a date")
    await shots.take(page, "list-bad-filter")

    # One conversation: transcript, note, tags, rating, and the router's decision.
    await page.goto(f"{hub.server.http}/dashboard/conversations?tag=refund")
    await listing.get_by_role("link", name="Emma Wilson").click()
    await expect(page.get_by_role("heading", name="Emma Wilson", level=1)).to_be_visible()
    transcript = page.get_by_role("list", name="Transcript")
    await expect(transcript).to_contain_text("I was charged twice")
    await expect(transcript).to_contain_text("It happened on May 3rd.")
    await expect(transcript).to_contain_text("I see the duplicate charge; refunding it now.")
    await expect(transcript).to_contain_text("Rated 5/5: “Fast, thanks”")
    notes = page.get_by_role("region", name="Notes")
    await expect(notes).to_contain_text("Refund #4821 issued")
    await expect(page.locator("#conv-tags")).to_have_text("billing-errorrefund")
    await expect(page.locator("#conv-rating")).to_contain_text("5/5")
    decision = page.get_by_role("article", name="Assignment 1")
    candidates = decision.get_by_role("table")
    await expect(candidates.locator("tbody tr")).to_have_count(2)
    await expect(candidates.get_by_role("row").filter(has_text="Chosen")).to_contain_text(
        {"ann": "Ann Lee", "bob": "Bob Okafor"}[by_id[c1]["last_agent"]]
    )
    await expect(decision).to_contain_text("Relaxation step 0")
    await expect(decision).to_contain_text("billing ≥")
    await shots.take(page, "conversation")

    # The transferred one shows both assignments; the abandoned one says why it has none.
    await page.goto(f"{hub.server.http}/dashboard/conversations/{c2}")
    await expect(page.get_by_role("article", name="Assignment 2")).to_contain_text(
        "Transfer to a named agent"
    )
    names = {"ann": "Ann Lee", "bob": "Bob Okafor"}
    first, second = done["transfer"]
    await expect(page.get_by_role("list", name="Transcript")).to_contain_text(
        f"Transferred by {names[first]} to {names[second]}"
    )
    await expect(page.get_by_role("article", name="Assignment 1")).to_contain_text(
        f"Assignment 1: {names[first]}"
    )
    await shots.take(page, "conversation-transferred")
    # Excluded candidates are counted by the router's reason.
    await page.goto(f"{hub.server.http}/dashboard/conversations/{done['convs'][4]}")
    article = page.get_by_role("article", name="Assignment 1")
    ranked = article.get_by_role("table")
    await expect(ranked.get_by_role("row").filter(has_text="Ann Lee")).to_contain_text("Chosen")
    await expect(ranked.get_by_role("row").filter(has_text="Bob Okafor")).to_have_count(0)
    await expect(article).to_contain_text("Excluded: 1 away or offline")
    await shots.take(page, "conversation-excluded-counted")
    await page.goto(f"{hub.server.http}/dashboard/conversations/{c3}")
    await expect(page.get_by_text("the visitor left before an agent answered")).to_be_visible()
    assert sue.errors == []
    for peer in done["peers"]:
        await peer.close()
