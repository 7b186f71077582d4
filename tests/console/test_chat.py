"""A chat from offer to end, driven from the console by role and name, with a scripted visitor."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.console.conftest import Console, start_hub, visitor_says, visitor_starts
from tests.support.browser import Shots

pytestmark = pytest.mark.browser


async def test_offer_accept_chat_note_tags_end(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    await expect(page.get_by_text("Online", exact=True)).to_be_visible()

    visitor, conv = await visitor_starts(hub, "Sam Carter", "My invoice is wrong")
    offer = ann.offer("Sam Carter")
    await expect(offer).to_be_visible()
    await expect(offer).to_contain_text("billing")
    await expect(offer).to_contain_text("My invoice is wrong")
    await expect(offer).to_contain_text("s left")
    await expect(offer.get_by_role("button", name="Decline")).to_be_visible()
    await shots.take(page, "offer")

    await ann.accept("Sam Carter")
    await visitor.expect("assigned")
    await expect(ann.log).to_contain_text("My invoice is wrong")

    # Visitor context beside the chat.
    context = page.get_by_role("complementary", name="Visitor")
    await expect(context).to_contain_text("sam@example.com")
    await expect(context).to_contain_text("https://shop.example/account/invoices")

    # Both ways, with typing and read state.
    await visitor.send({"type": "typing", "conversation_id": conv, "active": True})
    await expect(page.get_by_text("Sam Carter is typing…")).to_be_visible()
    sent = await visitor_says(visitor, conv, "It says 40 € but I paid 30 €")
    await expect(ann.log).to_contain_text("It says 40 € but I paid 30 €")
    read = await visitor.expect("read", seq=sent["seq"])
    assert read["by"] == {"role": "agent"}

    await ann.box.fill("Let me check that for you.")
    typing = await visitor.expect("typing", active=True)
    assert typing["by"] == {"role": "agent"}
    await ann.box.press("Enter")
    got = await visitor.expect("message", text="Let me check that for you.")
    assert got["from"]["role"] == "agent"
    await expect(ann.box).to_have_value("")
    # Shift+Enter makes a new line instead of sending.
    await ann.box.type("Line one")
    await ann.box.press("Shift+Enter")
    await ann.box.type("Line two")
    await expect(ann.box).to_have_value("Line one\nLine two")
    await ann.box.press("Enter")
    await visitor.expect("message", text="Line one\nLine two")

    await visitor.send({"type": "read", "conversation_id": conv, "seq": got["seq"]})
    own = ann.log.locator(".row.out", has_text="Let me check that for you.")
    await expect(own).to_contain_text("Read")
    await shots.take(page, "chatting")

    # An internal note: shown apart, never sent to the visitor.
    await page.get_by_role("button", name="Add note").click()
    dialog = page.get_by_role("dialog", name="Add an internal note")
    await dialog.get_by_role("textbox", name="Note").fill("VIP since 2019, refund allowed")
    await dialog.get_by_role("button", name="Save note").click()
    note = ann.log.get_by_label("Internal note")
    await expect(note).to_contain_text("VIP since 2019, refund allowed")

    # Tags, with suggestions from tags already used.
    await page.get_by_role("button", name="Tags").click()
    tags = page.get_by_role("dialog", name="Tags")
    await tags.get_by_role("combobox", name="Tag").fill("Refund")
    await tags.get_by_role("button", name="Add tag").click()
    await expect(page.get_by_label("Conversation tags")).to_contain_text("refund")
    await shots.take(page, "note-and-tags")

    # A second visitor waits: the offer card beside the open chat (the docs' picture).
    await visitor_starts(hub, "Nora Diaz", "Can I move to the yearly plan?", topic="account")
    await expect(ann.offer("Nora Diaz")).to_contain_text("Can I move to the yearly plan?")
    await expect(page.locator(".toast")).to_have_count(0)
    await shots.take(page, "workspace")  # docs/images/console.png is a copy of this one

    # End the chat: the visitor is told, the console shows it ended.
    await page.get_by_role("button", name="End chat").click()
    closed = await visitor.expect("closed")
    assert closed["by"] == "agent"
    await expect(ann.log).to_contain_text("ended")
    await expect(ann.box).to_be_disabled()
    await shots.take(page, "ended")

    # The visitor saw no note, and got every agent message exactly once.
    await visitor.request({"type": "rate", "conversation_id": conv, "score": 5})
    await expect(ann.log).to_contain_text("Rated")
    assert not [f for f in visitor.inbox if "VIP" in str(f) or f.get("type") == "note"]
    assert ann.errors == []
    await ann.close()


async def test_visitor_context_lists_earlier_conversations(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub, agents=("ann", "bob"))
    bob, _ = await hub.agent("bob")
    visitor, first = await visitor_starts(hub, "Ivy Moss", "Last week's question")
    offer = await bob.expect("offer", timeout=10)
    await bob.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await bob.request(
        {"type": "message", "conversation_id": first, "client_id": "b1", "text": "Solved!"}
    )
    await bob.request({"type": "tag", "conversation_id": first, "tags": ["vip"]})
    await bob.request({"type": "close", "conversation_id": first})
    await bob.request({"type": "status", "status": "away"})

    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    await visitor.send(
        {
            "type": "start",
            "topic": "account",
            "language": "en",
            "name": "Ivy Moss",
            "text": "Back again",
        }
    )
    second = (await visitor.expect("queued"))["conversation_id"]
    assert second != first
    await ann.accept("Ivy Moss")
    context = page.get_by_role("complementary", name="Visitor")
    await expect(context).to_contain_text("account")
    earlier = context.get_by_role("button", name="Open transcript")
    await expect(earlier).to_have_count(1)
    await earlier.click()
    dialog = page.get_by_role("dialog", name="Earlier conversation")
    transcript = dialog.get_by_role("log", name="Earlier transcript")
    await expect(transcript).to_contain_text("Last week's question")
    await expect(transcript).to_contain_text("Solved!")
    await expect(dialog.get_by_role("textbox")).to_have_count(0)  # read-only
    await shots.take(page, "earlier")
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()

    # Tags already used elsewhere are suggested.
    await page.get_by_role("button", name="Tags").click()
    tags = page.get_by_role("dialog", name="Tags")
    await tags.get_by_role("button", name="Add tag vip").click()
    await expect(page.get_by_label("Conversation tags")).to_contain_text("vip")
    assert ann.errors == []
    await ann.close()
