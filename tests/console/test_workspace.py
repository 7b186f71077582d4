"""Canned responses, transfers, several chats at once, keyboard shortcuts."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.console.conftest import (
    ALL_SKILLS,
    Console,
    start_hub,
    visitor_says,
    visitor_starts,
)
from tests.support.browser import Shots

pytestmark = pytest.mark.browser


async def test_canned_response_is_managed_and_inserted(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page

    # The management dialog validates with clear errors.
    await page.get_by_role("button", name="Canned responses").click()
    dialog = page.get_by_role("dialog", name="Canned responses")
    await dialog.get_by_role("textbox", name="Shortcut").fill("bad shortcut!")
    await dialog.get_by_role("textbox", name="Response text").fill("x")
    await dialog.get_by_role("button", name="Add response").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("shortcut")
    await dialog.get_by_role("textbox", name="Shortcut").fill("refund")
    await dialog.get_by_role("textbox", name="Response text").fill(
        "I have issued a refund; it takes 3–5 working days to arrive."
    )
    await dialog.get_by_role("button", name="Add response").click()
    await expect(dialog.get_by_role("alert")).to_be_hidden()
    await expect(dialog).to_contain_text("/refund")
    await dialog.get_by_role("textbox", name="Shortcut").fill("hello")
    await dialog.get_by_role("textbox", name="Response text").fill("Hello! How can I help?")
    await dialog.get_by_role("button", name="Add response").click()
    await expect(dialog).to_contain_text("/hello")
    # The same shortcut twice is refused.
    await dialog.get_by_role("textbox", name="Shortcut").fill("hello")
    await dialog.get_by_role("textbox", name="Response text").fill("again")
    await dialog.get_by_role("button", name="Add response").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("exists already")
    await shots.take(page, "manage")
    await dialog.get_by_role("button", name="Close").click()

    # Only admins may add shared responses (API).
    r = await page.request.post(
        f"{server.http}/api/v1/canned", data={"shortcut": "x", "text": "y", "shared": True}
    )
    assert r.status == 403

    await ann.go_online()
    visitor, _ = await visitor_starts(hub, "Mia Wong", "Where is my money?")
    await ann.accept("Mia Wong")
    await ann.box.fill("/re")
    menu = page.get_by_role("listbox", name="Canned responses")
    await expect(menu.get_by_role("option")).to_have_count(1)
    await expect(menu.get_by_role("option")).to_contain_text("/refund")
    await shots.take(page, "picker")
    await ann.box.press("Tab")
    await expect(ann.box).to_have_value(
        "I have issued a refund; it takes 3–5 working days to arrive."
    )
    await ann.box.press("Enter")
    await visitor.expect(
        "message", text="I have issued a refund; it takes 3–5 working days to arrive."
    )
    # Typing "/" alone lists them all; Enter inserts the highlighted one.
    await ann.box.fill("/")
    await expect(menu.get_by_role("option")).to_have_count(2)
    await ann.box.press("ArrowDown")
    await ann.box.press("Enter")
    await expect(ann.box).to_have_value(
        "I have issued a refund; it takes 3–5 working days to arrive."
    )
    assert ann.errors == []
    await ann.close()


async def test_transfer_to_an_online_agent(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub, agents=("ann", "bob"))
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    visitor, conv = await visitor_starts(hub, "Leo Park", "My account is locked")
    await ann.accept("Leo Park")
    await visitor.expect("assigned")

    bob, _ = await hub.agent("bob")
    await page.get_by_role("button", name="Transfer").click()
    dialog = page.get_by_role("dialog", name="Transfer chat")
    await expect(dialog.get_by_role("radio", name="Bob Lee")).to_be_visible()
    await expect(dialog.get_by_role("radio", name="Technical queue")).to_be_visible()
    await shots.take(page, "transfer-dialog")
    await dialog.get_by_role("radio", name="Bob Lee").check()
    await dialog.get_by_role("button", name="Transfer").click()

    offer = await bob.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    assigned = await bob.request(
        {"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned"
    )
    assert assigned["conversation_id"] == conv
    got = await visitor.expect("assigned", timeout=10)
    assert got["agent"]["display_name"] == "Bob Lee"
    await expect(page.get_by_role("tab", name="Leo Park")).to_have_count(0)
    await expect(
        page.get_by_role("status").filter(has_text="transferred to Bob Lee")
    ).to_be_visible()
    await shots.take(page, "transferred")

    # To a topic's queue: the chat is routed again (Ann goes away first, so Bob gets it).
    _, conv2 = await visitor_starts(hub, "Eva Rossi", "The app crashes", topic="account")
    await ann.accept("Eva Rossi")
    # Bob's `assigned`, should it reach Ann (her tabs stop following the chat at the transfer),
    # must not bring the chat back. The hub would hand it to Ann's socket when it handed it
    # to the visitor's (one pass over a conversation's sockets), before Eva's offer existed;
    # and accepting that offer is a round trip on Ann's socket after any request her console
    # made on Bob's `assigned`. So by now the chat's tab, or the error to such a request,
    # would be here.
    await expect(page.get_by_role("tab", name="Leo Park")).to_have_count(0)
    await expect(page.locator("#toasts")).not_to_contain_text("not held")
    await page.get_by_role("button", name="Go away").click()
    await expect(page.get_by_role("button", name="Go online")).to_be_visible()
    await page.get_by_role("button", name="Transfer").click()
    await dialog.get_by_role("radio", name="Technical queue").check()
    await dialog.get_by_role("button", name="Transfer").click()
    offer2 = await bob.expect("offer", timeout=10)
    assert offer2["conversation"]["conversation_id"] == conv2
    assert offer2["conversation"]["topic"] == "technical"
    await expect(page.get_by_role("tab", name="Eva Rossi")).to_have_count(0)
    assert ann.errors == []
    await ann.close()


async def test_two_chats_unread_counts_title_and_shortcuts(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    one, _ = await visitor_starts(hub, "Ava Stone", "First question")
    await expect(ann.offer("Ava Stone")).to_be_visible()
    await page.keyboard.press("Alt+a")  # accept the oldest offer
    await expect(page.get_by_role("tab", name="Ava Stone")).to_be_visible()
    two, conv2 = await visitor_starts(hub, "Ben Cole", "Second question", topic="technical")
    await ann.accept("Ben Cole")

    # Ava's chat is open; Ben writes twice: the tab and the title count it.
    await page.get_by_role("tab", name="Ava Stone").click()
    await expect(page.get_by_role("tab", name="Ava Stone")).to_have_attribute(
        "aria-selected", "true"
    )
    await visitor_says(two, conv2, "Are you there?")
    await visitor_says(two, conv2, "Hello??")
    ben_tab = page.get_by_role("tab", name="Ben Cole")
    await expect(ben_tab).to_contain_text("2")
    await expect(page).to_have_title("(2) Console")
    await shots.take(page, "unread")

    # Alt+ArrowDown switches to the next chat; reading it clears the count.
    await page.keyboard.press("Alt+ArrowDown")
    await expect(ben_tab).to_have_attribute("aria-selected", "true")
    await expect(page).to_have_title("Console")
    await expect(ann.log).to_contain_text("Hello??")
    await two.expect("read", seq=(await _last_seq(server.http, conv2)))

    # Alt+M focuses the message box; each chat keeps its own draft.
    await page.keyboard.press("Alt+m")
    await expect(ann.box).to_be_focused()
    await page.keyboard.type("draft for Ben")
    await page.keyboard.press("Alt+1")
    await expect(page.get_by_role("tab", name="Ava Stone")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(ann.box).to_have_value("")
    await page.keyboard.press("Alt+2")
    await expect(ann.box).to_have_value("draft for Ben")

    # "?" opens the shortcut help.
    await ann.log.focus()
    await page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_dialog).to_contain_text("Accept the oldest offer")
    await shots.take(page, "help")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()

    # Alt+E ends the open chat.
    await ann.box.focus()
    await page.keyboard.press("Alt+e")
    closed = await two.expect("closed")
    assert closed["by"] == "agent"
    await expect(ann.box).to_be_disabled()
    assert not one.take("closed")
    assert ann.errors == []
    await ann.close()


async def _last_seq(base: str, conv: str) -> int:
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{base}/api/v1/auth/login",
            json={"username": "ann", "password": "correct horse battery"},
        )
        token = r.json()["token"]
        r = await http.get(
            f"{base}/api/v1/conversations/{conv}", headers={"Authorization": f"Bearer {token}"}
        )
    seq: int = r.json()["conversation"]["last_seq"]
    return seq


async def test_admin_shares_canned_responses_agents_only_use_them(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(
        hub.data_dir, "ada", skills=ALL_SKILLS, display_name="Ada Admin", roles=("agent", "admin")
    )
    server = await start_hub(hub)
    ada = await Console.open(browser, server.http, "ada")
    await ada.page.get_by_role("button", name="Canned responses").click()
    dialog = ada.page.get_by_role("dialog", name="Canned responses")
    await dialog.get_by_role("textbox", name="Shortcut").fill("/Welcome")
    await dialog.get_by_role("textbox", name="Response text").fill("Welcome to Example Shop!")
    await dialog.get_by_role("checkbox", name="Shared with every agent").check()
    await dialog.get_by_role("button", name="Add response").click()
    await expect(dialog).to_contain_text("/welcome")
    await expect(dialog).to_contain_text("shared")
    await shots.take(ada.page, "admin-shared")

    ann = await Console.open(browser, server.http, "ann")
    r = await ann.page.request.get(f"{server.http}/api/v1/canned")
    items = (await r.json())["canned"]
    assert [(c["shortcut"], c["shared"]) for c in items] == [("welcome", True)]
    same_origin = {"Origin": server.http}  # as the console's own fetch sends it
    r = await ann.page.request.delete(
        f"{server.http}/api/v1/canned/{items[0]['id']}", headers=same_origin
    )
    assert r.status == 403 and "shared" in (await r.json())["message"]
    r = await ann.page.request.post(
        f"{server.http}/api/v1/canned", data={"shortcut": "x"}, headers=same_origin
    )
    assert r.status == 400 and "text" in (await r.json())["message"]
    await ann.page.get_by_role("button", name="Canned responses").click()
    ann_dialog = ann.page.get_by_role("dialog", name="Canned responses")
    await expect(ann_dialog).to_contain_text("/welcome")
    await expect(ann_dialog.get_by_role("button", name="Delete /welcome")).to_have_count(0)
    await expect(ann_dialog.get_by_role("checkbox")).to_have_count(0)
    assert ada.errors == [] and ann.errors == []
    await ada.close()
    await ann.close()


async def test_decline_and_go_away(hub: Hub, browser: Browser) -> None:
    server = await start_hub(hub, agents=("ann", "bob"))
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    _, conv = await visitor_starts(hub, "Kim Lund", "Question")
    offer = ann.offer("Kim Lund")
    await expect(offer).to_be_visible()
    # Bob comes online once Ann holds the offer: her decline sends it to him (a declining
    # agent is passed over while someone else qualifies; alone, she would get it again).
    bob, _ = await hub.agent("bob")
    await offer.get_by_role("button", name="Decline").click()
    await expect(offer).to_have_count(0)
    reoffer = await bob.expect("offer")
    assert reoffer["conversation"]["conversation_id"] == conv
    await page.get_by_role("button", name="Go away").click()
    await expect(page.get_by_role("button", name="Go online")).to_be_visible()
    await expect(page.get_by_text("Away", exact=True)).to_be_visible()
    await expect(page.get_by_role("tab")).to_have_count(0)
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{server.http}/api/v1/agents/online")
    assert r.status_code == 401
    assert conv
    assert ann.errors == []
    await ann.close()
