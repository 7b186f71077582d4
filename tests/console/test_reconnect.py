"""A lost connection: the console says so, reconnects by itself, resumes by `seq`, and re-sends
what was never acknowledged with the same `client_id` — nothing lost, nothing doubled."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.console.conftest import Console, start_hub, visitor_says, visitor_starts
from tests.support.browser import Shots
from tests.support.netcut import NetCut

pytestmark = pytest.mark.browser


@pytest.fixture
async def netcut_factory() -> AsyncIterator[list[NetCut]]:
    made: list[NetCut] = []
    yield made
    for cut in made:
        await cut.close()


async def test_reconnect_loses_and_doubles_nothing(
    hub: Hub, browser: Browser, shots: Shots, netcut_factory: list[NetCut]
) -> None:
    server = await start_hub(hub)
    net = await NetCut(server.port).start()
    netcut_factory.append(net)
    ann = await Console.open(browser, net.http)
    page = ann.page
    await ann.go_online()
    visitor, conv = await visitor_starts(hub, "Zoe Hart", "Hi there")
    await ann.accept("Zoe Hart")
    await ann.say("Hello Zoe")
    await visitor.expect("message", text="Hello Zoe")

    # The network drops: the console says so.
    net.cut()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    # Meanwhile the visitor writes, and the agent sends one message and drafts another.
    await visitor_says(visitor, conv, "Are you still there?")
    await visitor_says(visitor, conv, "Hello?")
    await ann.say("Sorry, my network dropped")
    await ann.box.fill("a draft not sent yet")
    await shots.take(page, "reconnecting")
    await page.wait_for_timeout(1500)

    net.restore()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_have_count(0)
    await expect(ann.log).to_contain_text("Hello?")
    got = await visitor.expect("message", text="Sorry, my network dropped", timeout=15)
    assert got["from"]["role"] == "agent"
    await expect(ann.box).to_have_value("a draft not sent yet")
    await shots.take(page, "resumed")

    # Lose only the hub's answer (the ack and the echo), then the connection: the retry
    # carries the same client_id and is stored once.
    net.mute_downstream()
    await ann.box.fill("Sent while the answer is lost")
    await ann.box.press("Enter")
    first = await visitor.expect("message", text="Sent while the answer is lost")
    net.cut()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    net.restore()
    sent = ann.log.locator(".row.msg", has_text="Sent while the answer is lost")
    await expect(sent).not_to_have_class(re.compile(r"\bpending\b"), timeout=15_000)
    # A barrier: one more message from the console. It leaves on the socket that carries any
    # re-send, so the hub stores it after them, and both sides get a conversation's messages
    # in seq order: once it is shown and at the visitor, a second copy would be too.
    await ann.say("Anything else?")
    await visitor.expect("message", text="Anything else?")
    await expect(
        ann.log.locator(".row.msg:not(.pending)", has_text="Anything else?")
    ).to_have_count(1)

    for text in (
        "Hi there",
        "Hello Zoe",
        "Are you still there?",
        "Hello?",
        "Sorry, my network dropped",
        "Sent while the answer is lost",
    ):
        await expect(ann.log.locator(".row.msg", has_text=text)).to_have_count(1)
    assert not visitor.take("message", text="Sorry, my network dropped")
    again = visitor.take("message", text="Sent while the answer is lost")
    assert again == [] or all(m["seq"] == first["seq"] for m in again)
    # The store has each message once.
    r = await page.request.get(f"{net.http}/api/v1/conversations/{conv}")
    texts = [e["body"].get("text") for e in (await r.json())["events"] if e["kind"] == "message"]
    assert texts.count("Sent while the answer is lost") == 1
    assert texts.count("Sorry, my network dropped") == 1

    # A reload rebuilds the chat from the hub: the held chat and its whole transcript, once.
    await page.reload()
    await expect(page.get_by_role("tab", name="Zoe Hart")).to_be_visible()
    await expect(page.get_by_role("button", name="Go away")).to_be_visible()
    for text in ("Hi there", "Hello?", "Sent while the answer is lost"):
        await expect(ann.log.locator(".row.msg", has_text=text)).to_have_count(1)
    assert ann.errors == []
    await ann.close()
