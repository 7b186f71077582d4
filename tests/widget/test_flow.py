"""The whole visitor flow in a real browser: open, pre-chat, queue, chat, end, rating, transcript."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.browser import Shots
from tests.widget.conftest import (
    Widget,
    accept_next,
    agent_says,
    new_page,
    page_errors,
    transcript,
)

pytestmark = pytest.mark.browser


async def test_whole_flow(hub: Hub, browser: Browser, shots: Shots) -> None:
    # Ann can take one chat and is busy with someone else; another visitor waits ahead of us.
    await add_agent(
        hub.data_dir, "solo", capacity=1, display_name="Ann Lee", skills={"billing": 5, "en": 5}
    )
    server = hub.start_server()
    ann, _ = await hub.agent("solo")
    busy, _ = await hub.visitor()
    await busy.request({"type": "start", "topic": "billing", "language": "en"}, expect="queued")
    busy_conv = await accept_next(ann)
    ahead, _ = await hub.visitor()
    ahead_conv = (
        await ahead.request(
            {"type": "start", "topic": "billing", "language": "en"}, expect="queued"
        )
    )["conversation_id"]

    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await expect(page.get_by_role("heading", name="Ridgeline 45L Trekking Pack")).to_be_visible()
    await expect(widget.launcher).to_have_accessible_name("Open chat")
    await shots.take(page, "launcher")

    await widget.open()
    await expect(widget.ui.get_by_role("textbox", name="Name")).to_be_focused()
    topics = widget.ui.get_by_role("combobox", name="Topic")
    await expect(topics.locator("option")).to_have_text(
        ["General question", "Billing and payments", "My account", "Technical help"]
    )
    await expect(widget.ui.get_by_role("combobox", name="Language")).to_have_value("en")

    # The e-mail is optional but checked.
    await widget.ui.get_by_role("textbox", name="Email").fill("sam@")
    await widget.ui.get_by_role("button", name="Start chat").click()
    email = widget.ui.get_by_role("textbox", name="Email")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await expect(widget.ui.get_by_text("Enter a valid email address")).to_be_visible()
    await shots.take(page, "prechat-invalid-email")

    await widget.start(name="Sam Carter", email="sam@example.com", topic="billing")
    queue = widget.ui.locator(".queue-body")
    await expect(queue).to_have_attribute("aria-live", "polite")
    await expect(queue).to_contain_text("You are number 2 in the queue")
    await expect(widget.ui.get_by_role("textbox", name="Message")).to_be_focused()
    await shots.take(page, "queued-position-2")

    # The visitor ahead gives up: our position is updated live.
    await ahead.request({"type": "close", "conversation_id": ahead_conv})
    await expect(queue).to_contain_text("You are next in the queue")
    await shots.take(page, "queued-next")

    # Ann finishes her other chat and gets ours.
    await ann.request({"type": "close", "conversation_id": busy_conv})
    conv = await accept_next(ann)
    header = widget.ui.locator(".head")
    await expect(header.get_by_role("heading", name="Ann Lee")).to_be_visible()
    await expect(widget.log).to_contain_text("Ann Lee joined the chat")
    await expect(widget.ui.get_by_role("button", name="End chat")).to_be_visible()

    # Messages both ways.
    await agent_says(
        ann, conv, "Hi Sam, I'm Ann. What can I do for you? See https://example.com/help."
    )
    await expect(widget.row("What can I do for you?")).to_be_visible()
    link = widget.row("What can I do for you?").get_by_role("link", name="https://example.com/help")
    await expect(link).to_have_attribute("href", "https://example.com/help")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    await expect(link).to_have_attribute("target", "_blank")

    await widget.say("My invoice 1042 is wrong")
    got = await ann.expect("message", conversation_id=conv, text="My invoice 1042 is wrong")
    assert got["from"] == {"role": "visitor", "name": "Sam Carter"}
    mine = widget.row("My invoice 1042 is wrong")
    await expect(mine.locator(".state")).to_have_text("Sent")

    # Shift+Enter adds a line; Enter sends.
    box = widget.ui.get_by_role("textbox", name="Message")
    await box.type("It says 12 items,")
    await box.press("Shift+Enter")
    await box.type("I ordered 2")
    await expect(box).to_have_value("It says 12 items,\nI ordered 2")
    await ann.expect("typing", conversation_id=conv, active=True)
    await box.press("Enter")
    second = await ann.expect(
        "message", conversation_id=conv, text="It says 12 items,\nI ordered 2"
    )
    await expect(box).to_have_value("")

    # Read state, then the typing indicator.
    await ann.send({"type": "read", "conversation_id": conv, "seq": second["seq"]})
    await expect(mine.locator(".state")).to_have_text("Read")
    await expect(widget.row("I ordered 2").locator(".state")).to_have_text("Read")
    # The visitor read Ann's message too (the panel is open).
    read = await ann.expect("read", conversation_id=conv)
    assert read["by"] == {"role": "visitor"}
    await ann.send({"type": "typing", "conversation_id": conv, "active": True})
    typing = widget.ui.get_by_text("Ann Lee is typing…")
    await expect(typing).to_be_visible()
    await shots.take(page, "chat-typing-read")
    await ann.send({"type": "typing", "conversation_id": conv, "active": False})
    await expect(typing).to_be_hidden()
    await agent_says(ann, conv, "Fixed: the new invoice is on its way.")
    await expect(widget.row("the new invoice is on its way")).to_be_visible()
    await shots.take(page, "chat")

    # Ann ends the chat: rating and transcript.
    await ann.request({"type": "close", "conversation_id": conv})
    await expect(widget.log).to_contain_text("Ann Lee ended the chat")
    await expect(widget.ui.get_by_role("textbox", name="Message")).to_be_hidden()
    rating = widget.ui.get_by_role("radiogroup", name="Rating")
    await expect(rating).to_be_visible()
    await expect(rating.get_by_role("radio")).to_have_count(5)
    await shots.take(page, "ended-rating")
    await rating.get_by_role("radio", name="4 stars").check()
    await widget.ui.get_by_role("textbox", name="Comment").fill("Quick and friendly")
    await widget.ui.get_by_role("button", name="Submit rating").click()
    await expect(widget.ui.get_by_text("Thanks for your feedback!")).to_be_visible()
    await expect(rating).to_be_hidden()
    stored = await transcript(server, "solo", conv)
    assert stored["conversation"]["rating"] == 4
    assert stored["conversation"]["rating_comment"] == "Quick and friendly"
    await shots.take(page, "rated")

    async with page.expect_download() as info:
        await widget.ui.get_by_role("button", name="Download transcript").click()
    download = await info.value
    assert re.fullmatch(r"chat-transcript-\d{4}-\d{2}-\d{2}\.txt", download.suggested_filename)
    text = (await download.path()).read_text(encoding="utf-8")
    body = re.sub(r"\[[^\]]*\] ", "", text.split("\n\n", 1)[1])
    assert body == (
        "— Ann Lee joined the chat\n"
        "Ann Lee: Hi Sam, I'm Ann. What can I do for you? See https://example.com/help.\n"
        "You: My invoice 1042 is wrong\n"
        "You: It says 12 items,\nI ordered 2\n"
        "Ann Lee: Fixed: the new invoice is on its way.\n"
        "— Ann Lee ended the chat\n"
    ), text

    # Closing the panel gives the focus back to the launcher.
    await widget.ui.get_by_role("button", name="Minimize chat").click()
    await expect(page.get_by_role("button", name="Open chat")).to_be_focused()
    assert page_errors(page) == []
    await context.close()
