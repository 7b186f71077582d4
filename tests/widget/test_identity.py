"""Verified users in a real browser: the host page calls ``ChatHub.identify``; a verified user
finds their conversation on a second "device" (another browser context, its own storage), a
forged hash finds nothing (``optional``) or is refused (``enforce``), and the agent's console
shows who is verified."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from playwright.async_api import Browser, Page, expect

from chatserver.core.identity import user_hash
from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.console.conftest import Console
from tests.support.browser import Shots, SignedInPage
from tests.support.netcut import HostPage
from tests.widget.conftest import Widget, new_page, page_errors, start_hub

pytestmark = pytest.mark.browser

SECRET = "shop-secret-0123456789abcdef-0123456789"
PROVEN = {"userId": "user-42", "userHash": user_hash(SECRET, "user-42")}
FORGED = {"userId": "user-42", "userHash": user_hash(SECRET, "user-43"), "name": "Mallory"}


def host_page(hub_http: str, site: str) -> str:
    return f"""<!doctype html><html><head><title>Shop</title></head>
<body><h1>Your account</h1>
<script src="{hub_http}/widget.js" data-site="{site}" async></script></body></html>"""


async def shop_hub(hub: Hub) -> tuple[str, HostPage, HostPage]:
    shop = await HostPage("").start()
    strict = await HostPage("").start()
    sites = {
        "default": ["self"],
        "demo": ["self"],
        "shop": [shop.origin, "self"],
        "strict": [strict.origin, "self"],
    }
    identity = {
        "shop": {"mode": "optional", "secret": SECRET},
        "strict": {"mode": "enforce", "secret": SECRET},
    }
    server = await start_hub(
        hub,
        CHATSERVER_SITES=json.dumps(sites),
        CHATSERVER_IDENTITY=json.dumps(identity),
    )
    shop.html = host_page(server.http, "shop").encode()
    strict.html = host_page(server.http, "strict").encode()
    return server.http, shop, strict


async def identify(page: Page, who: dict[str, Any]) -> dict[str, Any]:
    """Call ``ChatHub.identify`` as the host app would; the widget's ``identify`` event."""
    outcome: dict[str, Any] = await page.evaluate(
        """(who) => new Promise((resolve) => {
            const go = () => { window.ChatHub.on("identify", resolve); window.ChatHub.identify(who); };
            window.ChatHub ? go() : addEventListener("load", go);
        })""",
        who,
    )
    return outcome


async def test_a_verified_user_continues_on_another_device_and_a_forged_hash_does_not(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(hub.data_dir, "sue", roles=("supervisor",), display_name="Sue Park")
    base, shop, strict = await shop_hub(hub)
    ann = await Console.open(browser, base, "ann")
    await ann.go_online()

    # Device 1: signed in to the shop; the page identifies the user before the chat opens.
    phone_ctx, phone = await new_page(browser)
    await phone.goto(shop.origin)
    assert await identify(
        phone, {**PROVEN, "name": "Ada Lovelace", "email": "ada@example.com"}
    ) == {
        "verified": True,
        "userId": "user-42",
    }
    widget = Widget(phone)
    await widget.open()
    await expect(widget.ui.get_by_role("textbox", name="Name")).to_have_value("Ada Lovelace")
    await widget.start(name="Ada Lovelace", email="ada@example.com", topic="billing")
    await ann.accept("Ada Lovelace")
    await widget.say("Where is my parcel?")
    await expect(ann.log).to_contain_text("Where is my parcel?")
    await ann.say("It left the warehouse this morning")
    await expect(widget.row("It left the warehouse this morning")).to_be_visible()

    # The agent sees the app's user id, verified.
    user = ann.page.locator("#ctx-user")
    await expect(user).to_contain_text("user-42")
    await expect(user.get_by_text("Verified", exact=False)).to_be_visible()
    await shots.take(ann.page, "console-visitor-verified")
    # So does a supervisor on the dashboard's conversation page.
    conv = await (await widget.frame()).evaluate(
        "() => JSON.parse(localStorage.getItem('chathub:v1:shop')).conv"
    )
    sue_ctx = await browser.new_context(viewport={"width": 1360, "height": 820})
    sue = SignedInPage(sue_ctx, await sue_ctx.new_page(), base)
    await sue.sign_in("sue", PASSWORD)
    await expect(sue.page).to_have_url(f"{base}/dashboard")
    await sue.page.goto(f"{base}/dashboard/conversations/{conv}")
    about = sue.page.get_by_role("region", name="About")
    await expect(about).to_contain_text("user-42")
    await expect(about.get_by_text("✓ Verified")).to_be_visible()
    await shots.take(sue.page, "dashboard-conversation-verified")
    assert sue.errors == []
    await sue.close()

    # Device 2: another browser, nothing stored; a signed token this time.
    token = jwt.encode(
        {"sub": "user-42", "exp": int(time.time()) + 300, "name": "Ada Lovelace"},
        SECRET,
        algorithm="HS256",
    )
    laptop_ctx, laptop = await new_page(browser)
    await laptop.goto(shop.origin)
    assert (await identify(laptop, {"token": token}))["verified"] is True
    other = Widget(laptop)
    await other.open()
    await expect(other.row("Where is my parcel?")).to_be_visible()
    await expect(other.row("It left the warehouse this morning")).to_be_visible()
    await shots.take(laptop, "widget-second-device-history")
    await other.say("I'm on my laptop now")
    await expect(ann.log).to_contain_text("I'm on my laptop now")
    await expect(widget.row("I'm on my laptop now")).to_be_visible()

    # Device 3: the same user id with a forged hash (site in "optional"): nothing merged.
    forger_ctx, forger = await new_page(browser)
    await forger.goto(shop.origin)
    outcome = await identify(forger, FORGED)
    assert outcome == {"verified": False, "userId": None}
    intruder = Widget(forger)
    await intruder.open()
    await expect(intruder.ui.get_by_role("button", name="Start chat")).to_be_visible()
    await expect(intruder.ui.get_by_role("textbox", name="Name")).to_have_value("Mallory")
    await expect(intruder.ui.get_by_text("Where is my parcel?")).to_have_count(0)
    await shots.take(forger, "widget-forged-hash-no-history")
    # Its chat reaches the agent marked unverified.
    await intruder.start(name="Mallory", email="mallory@example.com", topic="billing")
    await ann.accept("Mallory")
    await expect(user).to_contain_text("user-42")
    await expect(user.get_by_text("Unverified")).to_be_visible()
    await shots.take(ann.page, "console-visitor-unverified")

    for page in (phone, laptop, forger):
        assert page_errors(page) == []
    assert ann.errors == []
    for ctx in (phone_ctx, laptop_ctx, forger_ctx):
        await ctx.close()
    await ann.close()
    await shop.close()
    await strict.close()


async def test_enforce_refuses_a_forged_hash(hub: Hub, browser: Browser, shots: Shots) -> None:
    base, shop, strict = await shop_hub(hub)
    context, page = await new_page(browser)
    await page.goto(strict.origin)
    outcome = await identify(page, FORGED)
    assert outcome == {"verified": False, "error": "forbidden"}
    widget = Widget(page)
    await widget.open()
    # Refused by the hub (nothing of the claim is stored); the visitor may still chat.
    await expect(widget.ui.get_by_role("button", name="Start chat")).to_be_visible()
    await shots.take(page, "widget-enforce-forged-refused")
    # The proven identity is accepted on the same page.
    assert (await identify(page, PROVEN))["verified"] is True
    assert page_errors(page) == []
    await context.close()
    await shop.close()
    await strict.close()
    assert base
