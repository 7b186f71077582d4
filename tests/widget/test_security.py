"""Text is text, and only the configured origins get a chat."""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import Browser, Page, expect

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.browser import Shots
from tests.support.netcut import HostPage
from tests.widget.conftest import (
    ALL_SKILLS,
    Widget,
    accept_next,
    agent_online,
    agent_says,
    new_page,
    page_errors,
    start_hub,
)

pytestmark = pytest.mark.browser

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '<a href="javascript:alert(3)">click me</a>',
    "javascript:alert(4) and <b>bold</b> &amp; &lt;",
]


async def test_markup_from_the_agent_is_shown_as_text_and_runs_nothing(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(
        hub.data_dir,
        "eve",
        skills=ALL_SKILLS,
        display_name="<i>Eve</i><img src=x onerror=alert(5)>",
    )
    server = hub.start_server()
    eve = await agent_online(hub, "eve")
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await widget.open()
    await widget.start(name="<b>Sam</b>")
    conv = await accept_next(eve)
    for text in HOSTILE:
        await agent_says(eve, conv, text)
    await widget.say("<img src=y onerror=alert(6)>")
    await eve.expect("message", conversation_id=conv, text="<img src=y onerror=alert(6)>")

    await expect(widget.log.locator(".row.msg .bubble")).to_have_text(
        [*HOSTILE, "<img src=y onerror=alert(6)>"]
    )
    await expect(widget.ui.locator(".head h1")).to_have_text(
        "<i>Eve</i><img src=x onerror=alert(5)>"
    )
    frame = await widget.frame()
    counts = await frame.evaluate(
        """() => ({
            img: document.querySelectorAll('.log img, .head img').length,
            script: document.querySelectorAll('body script').length,
            italic: document.querySelectorAll('.log i, .head i, .log b').length,
            links: [...document.querySelectorAll('.log a')].map(a => a.getAttribute('href')),
        })"""
    )
    assert counts == {"img": 0, "script": 0, "italic": 0, "links": []}
    # What markup could still do later is load an image and run its handler. A barrier: the
    # frame loads the images the hostile markup names, after it; an earlier load of the same
    # address has ended by the time these have (and an alert would hold the frame up).
    await frame.evaluate(
        """() => Promise.all(['x', 'y'].map((src) => new Promise((done) => {
            const probe = new Image();
            probe.onload = probe.onerror = done;
            probe.src = src;
        })))"""
    )
    assert page_errors(page) == []  # no alert dialog, no page error
    await shots.take(page, "markup-as-text")
    await context.close()


async def frame_refused(page: Page, timeout: float = 10.0) -> None:
    """Wait until the chat frame on ``page`` holds Chromium's error page (the frame was
    refused); fail if it still holds anything else when ``timeout`` is over."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        urls = [f.url for f in page.main_frame.child_frames]
        if urls and all(url.startswith("chrome-error:") for url in urls):
            return
        assert loop.time() < deadline, f"the chat frame was not refused: {urls}"
        await asyncio.sleep(0.05)


def host_page(hub_http: str, site: str) -> str:
    return f"""<!doctype html><html><head><title>Other shop</title></head>
<body><h1>Another shop</h1>
<script src="{hub_http}/widget.js" data-site="{site}" async></script></body></html>"""


async def socket_close_code(page: Page, hub_ws: str, site: str) -> int:
    """Open /ws/visitor from the page's own origin, say hello, and report the close code."""
    code: int = await page.evaluate(
        """([url, site]) => new Promise((resolve) => {
            const ws = new WebSocket(url);
            ws.onopen = () => ws.send(JSON.stringify({type: 'hello', token: null, site}));
            ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'welcome') { ws.close(); resolve(1000); } };
            ws.onclose = (e) => resolve(e.code);
        })""",
        [f"{hub_ws}/ws/visitor", site],
    )
    return code


async def test_a_page_from_an_origin_not_allowed_for_the_site_cannot_open_a_chat(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    await agent_online(hub)
    context, page = await new_page(browser)
    other = await HostPage(host_page(server.http, "demo")).start()
    await page.goto(other.origin)
    # The hub's frame refuses to render there (frame-ancestors), so the launcher never appears:
    # it is shown when the hub's frame says it is ready, and Chromium put its error page in
    # the frame's place, which runs none of the hub's code.
    await frame_refused(page)
    await expect(page.locator(".chathub-launcher")).to_be_hidden()
    await expect(page.get_by_role("button", name="Open chat")).to_have_count(0)
    frame = page.frame_locator('iframe[title="Chat"]')
    await expect(frame.get_by_role("button", name="Start chat")).to_have_count(0)
    await shots.take(page, "foreign-origin-no-launcher")
    # Nor can that page talk to /ws/visitor itself.
    assert await socket_close_code(page, server.ws, "demo") == 4403
    assert await socket_close_code(page, server.ws, "no-such-site") == 4403
    # The hub's own pages can (the demo site allows the hub's own origin).
    own = await context.new_page()
    await own.goto(f"{server.http}/demo")
    assert await socket_close_code(own, server.ws, "demo") == 1000
    await context.close()
    await other.close()


async def test_an_allowed_foreign_origin_gets_a_working_widget(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    shop = await HostPage("").start()
    sites = {"default": ["self"], "demo": ["self"], "shop": [shop.origin, "self"]}
    server = await start_hub(hub, CHATSERVER_SITES=json.dumps(sites))
    shop.html = host_page(server.http, "shop").encode()
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    await page.goto(shop.origin)
    widget = Widget(page)
    await widget.open()
    await widget.start()
    conv = await accept_next(ann)
    await agent_says(ann, conv, "Hello across origins")
    await expect(widget.row("Hello across origins")).to_be_visible()
    await widget.say("Hi from the shop")
    await ann.expect("message", conversation_id=conv, text="Hi from the shop")

    # The loader only listens to its own frame: a message forged by the host window is ignored.
    await widget.ui.get_by_role("button", name="Minimize chat").click()
    await page.evaluate("window.postMessage({chathub: 1, type: 'unread', data: {count: 7}}, '*')")
    await agent_says(ann, conv, "You have one unread message")
    badge = page.locator(".chathub-badge")
    await expect(badge).to_have_text("1")
    await expect(page.get_by_role("button", name="Open chat")).to_have_accessible_description(
        "1 unread"
    )
    await shots.take(page, "foreign-origin-unread-badge")
    # The page itself still cannot open a visitor socket: only the hub's frame can.
    assert await socket_close_code(page, server.ws, "demo") == 4403
    await context.close()
    await shop.close()
