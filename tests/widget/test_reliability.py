"""Nothing lost, nothing twice: network drops, lost acks, reloads and second tabs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.support.browser import Shots
from tests.support.netcut import NetCut
from tests.support.peer import Peer
from tests.support.stores import query
from tests.widget.conftest import (
    Widget,
    accept_next,
    agent_online,
    agent_says,
    new_page,
    page_errors,
    start_hub,
)

pytestmark = pytest.mark.browser


@pytest.fixture
async def netcut(hub: Hub) -> AsyncIterator[NetCut]:
    server = await start_hub(hub)
    cut = await NetCut(server.port).start()
    try:
        yield cut
    finally:
        await cut.close()


#: The two messages of `barrier`, as the visitor's transcript shows them.
BARRIER = ["One more thing", "Noted"]


async def barrier(widget: Widget, agent: Peer, conv: str) -> None:
    """A barrier for duplicates, both ways: the visitor says one more thing and the agent
    answers it. The widget sends on one socket and the hub handles a socket's frames in turn,
    so any re-send of an earlier message is stored before the visitor's last one; and each side
    gets a conversation's events in seq order. Once the agent has the visitor's message (it is
    then taken from ``agent.inbox``) and the visitor shows the answer, a second copy of
    anything earlier would have reached both."""
    await widget.say(BARRIER[0])
    await agent.expect("message", conversation_id=conv, text=BARRIER[0])
    await agent_says(agent, conv, BARRIER[1])
    await expect(widget.row(BARRIER[1])).to_be_visible()


def conversations(hub: Hub) -> list[str]:
    """The ids of every conversation in the hub's store."""
    return [row[0] for row in query(hub.data_dir, "SELECT id FROM conversations")]


def visitor_texts(agent: Peer, conv: str) -> list[str]:
    return [
        f["text"]
        for f in agent.inbox
        if f.get("type") == "message"
        and f.get("conversation_id") == conv
        and f["from"]["role"] == "visitor"
    ]


async def test_network_drop_loses_nothing_and_repeats_nothing(
    hub: Hub, netcut: NetCut, browser: Browser, shots: Shots
) -> None:
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{netcut.http}/demo")  # everything the browser loads goes through the cut
    await widget.open()
    await widget.start()
    conv = await accept_next(ann)
    await agent_says(ann, conv, "Hello from Ann")
    await expect(widget.row("Hello from Ann")).to_be_visible()

    # 1. The hub stores the visitor's message but its ack never comes back.
    netcut.mute_downstream()
    await widget.say("sent as the line went down")
    await ann.expect("message", conversation_id=conv, text="sent as the line went down")
    await expect(widget.row("sent as the line went down").locator(".state")).to_have_text(
        "Sending…"
    )

    # 2. The browser goes offline for a few seconds.
    await context.set_offline(True)
    netcut.cut()
    await expect(widget.ui.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    for n in (1, 2, 3):
        await agent_says(ann, conv, f"agent message {n} while you were away")
    await widget.say("typed while offline")
    await expect(widget.row("typed while offline").locator(".state")).to_have_text("Sending…")
    await shots.take(page, "offline-reconnecting")
    await asyncio.sleep(3)

    # 3. It comes back.
    netcut.restore()
    await context.set_offline(False)
    await expect(widget.row("typed while offline").locator(".state")).to_have_text("Sent")
    await expect(widget.ui.get_by_text("Reconnecting…")).to_be_hidden()
    expected = [
        "Hello from Ann",
        "sent as the line went down",
        "agent message 1 while you were away",
        "agent message 2 while you were away",
        "agent message 3 while you were away",
        "typed while offline",
    ]
    await expect(widget.log.locator(".row.msg .bubble")).to_have_text(expected)
    await expect(widget.row("sent as the line went down").locator(".state")).to_have_text("Sent")
    await shots.take(page, "back-online")

    # The agent got each visitor message exactly once; the visitor shows each exactly once.
    await ann.expect("message", conversation_id=conv, text="typed while offline")
    await barrier(widget, ann, conv)
    assert visitor_texts(ann, conv) == []
    assert await widget.messages() == [*expected, *BARRIER]
    assert page_errors(page) == []
    await context.close()


async def test_reload_and_new_tab_keep_the_conversation(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await widget.open()
    await widget.start()
    conv = await accept_next(ann)
    await agent_says(ann, conv, "First from Ann")
    await widget.say("First from Sam")
    reply = await ann.expect("message", conversation_id=conv, text="First from Sam")
    await ann.send({"type": "read", "conversation_id": conv, "seq": reply["seq"]})
    await expect(widget.row("First from Sam").locator(".state")).to_have_text("Read")

    await page.reload()
    await widget.open()
    await expect(widget.ui.locator(".head").get_by_role("heading", name="Ann Lee")).to_be_visible()
    await expect(widget.log.locator(".row.msg .bubble")).to_have_text(
        ["First from Ann", "First from Sam"]
    )
    await expect(widget.row("First from Sam").locator(".state")).to_have_text("Read")
    await expect(widget.ui.get_by_role("textbox", name="Name")).to_be_hidden()
    await shots.take(page, "after-reload")
    await widget.say("After the reload")
    await ann.expect("message", conversation_id=conv, text="After the reload")

    # A second tab is the same visitor in the same conversation: both see everything.
    tab = await context.new_page()
    other = Widget(tab)
    await tab.goto(f"{server.http}/demo")
    await other.open()
    await expect(other.log.locator(".row.msg .bubble")).to_have_text(
        ["First from Ann", "First from Sam", "After the reload"]
    )
    await other.say("From the second tab")
    await ann.expect("message", conversation_id=conv, text="From the second tab")
    await agent_says(ann, conv, "Both tabs see this")
    for w in (widget, other):
        await expect(w.log.locator(".row.msg .bubble")).to_have_text(
            [
                "First from Ann",
                "First from Sam",
                "After the reload",
                "From the second tab",
                "Both tabs see this",
            ]
        )
    # No second conversation was ever started: a tab starts one before it sends anything
    # else, and the hub handles a socket's frames in turn, so it would be stored by now.
    assert conversations(hub) == [conv]
    assert not ann.take("offer")
    await context.close()


async def test_message_typed_before_a_reload_is_sent_after_it(
    hub: Hub, netcut: NetCut, browser: Browser
) -> None:
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{netcut.http}/demo")
    await widget.open()
    await widget.start()
    conv = await accept_next(ann)
    await expect(widget.log).to_contain_text("Ann Lee joined the chat")

    netcut.cut()  # the hub is unreachable: the message waits in storage
    await widget.say("kept across the reload")
    await expect(widget.row("kept across the reload").locator(".state")).to_have_text("Sending…")
    netcut.restore()
    await page.reload()
    await widget.open()
    await expect(widget.row("kept across the reload").locator(".state")).to_have_text("Sent")
    await ann.expect("message", conversation_id=conv, text="kept across the reload")
    await barrier(widget, ann, conv)
    assert visitor_texts(ann, conv) == []
    await context.close()
