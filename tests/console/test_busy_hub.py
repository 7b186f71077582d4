"""A hub that cannot reach Redis for a moment when the agent clicks Accept: the accept is
answered `unavailable`, the card stays (its button says "Accepting…") and the console sends the
accept again by itself until it goes through — the offer is never dropped on the floor."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.chatserver.integration.helpers import ann_behind_a_redis_cut
from tests.console.conftest import Console, visitor_starts
from tests.support.browser import Refusals, Shots
from tests.support.netcut import NetCut

pytestmark = pytest.mark.browser


__all__ = ["ann_behind_a_redis_cut"]  # the fixture


async def test_an_accept_refused_for_now_is_sent_again_until_it_lands(
    ann_behind_a_redis_cut: tuple[Hub, NetCut], browser: Browser, shots: Shots
) -> None:
    hub, proxy = ann_behind_a_redis_cut
    ann = await Console.open(browser, hub.server.http)
    await ann.go_online()
    refused = Refusals(ann.page)
    await ann.page.reload()  # its socket opens again, now watched; it stays online
    await expect(ann.status_button("Go away")).to_be_visible()
    visitor, conv = await visitor_starts(hub, "Grace Holland")
    card = ann.offer("Grace Holland")
    await expect(card).to_be_visible()
    proxy.cut()
    await card.get_by_role("button", name="Accept").click()
    await expect(card.get_by_role("button", name="Accepting…")).to_be_visible()
    # Refused, and refused again after a back-off: else the test would prove nothing.
    await refused.at_least(2)
    await expect(card).to_be_visible()
    await shots.take(ann.page, "accepting-while-redis-is-away")
    proxy.restore()
    await expect(ann.page.get_by_role("tab", name="Grace Holland")).to_be_visible(timeout=20_000)
    await expect(card).to_have_count(0)
    await visitor.expect("assigned", conversation_id=conv, timeout=10)
    await shots.take(ann.page, "accepted-after-the-retry")
    assert ann.errors == []
    await ann.close()
