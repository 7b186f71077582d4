"""A hub that cannot reach Redis for a moment: the visitor's `start` is answered `unavailable`,
and the widget sends it again by itself, with back-off, while the visitor sees "Connecting you…"
and no error; once Redis is back the chat starts as if nothing happened (one conversation)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.chatserver.integration.helpers import ann_behind_a_redis_cut
from tests.support.browser import Refusals, Shots
from tests.support.netcut import NetCut
from tests.support.stores import query
from tests.widget.conftest import Widget, accept_next, agent_online, new_page

pytestmark = pytest.mark.browser


__all__ = ["ann_behind_a_redis_cut"]  # the fixture


async def test_a_start_refused_for_now_goes_through_by_itself(
    ann_behind_a_redis_cut: tuple[Hub, NetCut], browser: Browser, shots: Shots
) -> None:
    hub, proxy = ann_behind_a_redis_cut
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    widget = Widget(page)
    refused = Refusals(page)
    await page.goto(f"{hub.server.http}/demo")
    await widget.open()
    proxy.cut()
    await widget.start()
    starting = widget.ui.get_by_role("button", name="Connecting you…")
    await expect(starting).to_be_visible()
    # Refused at least twice while Redis is away; still only "Connecting you…", no error.
    await refused.at_least(2)
    await expect(starting).to_be_visible()
    await expect(widget.ui.get_by_role("alert")).to_have_count(0)
    await shots.take(page, "connecting-while-redis-is-away")
    proxy.restore()
    conv = await accept_next(ann, timeout=30)
    await expect(widget.ui.get_by_text("Ann Lee joined the chat")).to_be_visible(timeout=15_000)
    await shots.take(page, "chatting-after-the-retry")
    assert [r[0] for r in query(hub.data_dir, "SELECT id FROM conversations")] == [conv]
    await context.close()
