"""The admin page "Bots" as an admin uses it, in real Chromium against a real hub process: the
empty page says what to make first (and links there); with a webhook endpoint and bot keys
made, the admin creates a bot (a refused timeout shown by its field first), sees a topic and a
key another bot has disabled with that bot's name, is refused a taken name by the field,
edits, disables and deletes a bot; visitors' conversations show in the bot's figures.
Screenshots go to `test-artifacts/bots/<test>/` and /tmp/shots-botpage/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, expect

from tests.admin.conftest import ADMIN, AdminPage, api
from tests.api.conftest import call, make_key
from tests.chatserver.integration.conftest import Hub
from tests.support.browser import Shots
from tests.support.peer import Peer
from tests.support.receiver import Receiver
from tests.webhooks.conftest import endpoint, start

pytestmark = pytest.mark.browser

#: Copies of the screenshots for reviewing the page by eye.
REVIEW = Path("/tmp/shots-botpage")


def keep(shot: Path) -> None:
    REVIEW.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, REVIEW / f"{shot.parent.name}-{shot.name}")


async def bots(hub: Hub, token: str) -> dict[str, dict[str, Any]]:
    """The bots as the API has them, by name."""
    r = await api(hub.server, "GET", "/api/v1/admin/bots", token=token)
    assert r.status_code == 200, r.text
    return {b["name"]: b for b in r.json()["bots"]}


async def bot_chat(hub: Hub, topic: str, bot: str) -> tuple[Peer, str]:
    """A visitor starts on ``topic``; ``bot`` takes the conversation."""
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": topic, "language": "en", "text": "hi"}, expect="queued"
    )
    conversation: str = queued["conversation_id"]
    assigned = await visitor.expect("assigned", conversation_id=conversation)
    assert assigned["agent"] == {"display_name": bot, "bot": True}
    return visitor, conversation


async def test_an_admin_sets_up_edits_and_deletes_bots(
    hub: Hub, browser: Browser, shots: Shots, receiver: Receiver
) -> None:
    await start(hub)
    token = await hub.login(ADMIN)
    admin = await AdminPage.open(browser, hub.server.http)
    page = admin.page
    await page.get_by_role("navigation", name="Sections").get_by_role("link", name="Bots").click()
    await expect(page.get_by_role("heading", name="Bots", exact=True)).to_be_visible()
    setup = page.get_by_role("region", name="Before your first bot")
    await expect(setup).to_be_visible()
    await expect(setup.get_by_role("link", name="Webhooks")).to_have_attribute(
        "href", "/admin/webhooks"
    )
    await expect(setup.get_by_role("link", name="API keys")).to_have_attribute(
        "href", "/admin/api-keys"
    )
    await expect(admin.button("New bot")).to_be_disabled()
    await expect(admin.table).to_contain_text("make the endpoint and the key above first")
    keep(await shots.take(page, "empty"))

    # What a bot needs, made on the other admin pages' APIs; a key without `bot` is not offered.
    hook = await endpoint(hub.server, token, receiver.url, description="Helpdesk bot")
    helper_key = await make_key(hub.server, token, "Helper key", "bot")
    greeter_key = await make_key(hub.server, token, "Greeter key", "bot")
    await make_key(hub.server, token, "Reporting", "read")
    await page.reload()
    await expect(admin.button("New bot")).to_be_enabled()
    await expect(setup.locator("#setup-endpoint")).to_have_class("done")
    await expect(setup.locator("#setup-key")).to_have_class("done")
    await expect(admin.table).to_contain_text("No bots yet: create one with New bot.")
    keep(await shots.take(page, "ready-for-a-first-bot"))

    await admin.button("New bot").click()
    endpoint_box = admin.dialog.get_by_role("combobox", name="Webhook endpoint")
    key_box = admin.dialog.get_by_role("combobox", name="API key")
    await expect(endpoint_box).to_have_value(hook["id"])  # the only one
    await expect(key_box.get_by_role("option")).to_have_text(  # newest first
        ["Choose a key…", "Greeter key", "Helper key"]
    )
    await admin.field("Name").fill("Helper")
    await key_box.select_option(helper_key.id)
    await admin.dialog.get_by_role("checkbox", name="billing").check()
    await admin.field("Answer timeout").fill("0")
    await admin.button("Create bot").click()
    await expect(admin.dialog.locator("#e-answer_timeout_s")).to_be_visible()
    await expect(admin.field("Answer timeout")).to_have_attribute("aria-invalid", "true")
    await expect(admin.field("Answer timeout")).to_be_focused()
    keep(await shots.take(page, "form-refused-timeout"))
    assert await bots(hub, token) == {}

    await admin.field("Answer timeout").fill("30")
    await admin.button("Create bot").click()
    await expect(admin.dialog).to_be_hidden()
    helper = admin.row("Helper")
    await expect(helper).to_contain_text("billing")
    await expect(helper).to_contain_text(receiver.url)
    await expect(helper).to_contain_text("key Helper key")
    await expect(helper).to_contain_text("Active")
    await expect(helper.locator("td.num")).to_have_text(["30 s", "0", "0", "0"])
    await expect(setup).to_be_hidden()
    made = (await bots(hub, token))["Helper"]
    assert (made["endpoint_id"], made["key_id"], made["topics"]) == (
        hook["id"],
        helper_key.id,
        ["billing"],
    )
    assert (made["answer_timeout_s"], made["enabled"]) == (30, True)

    # A second bot: billing and Helper's key are Helper's (shown, not choosable, with its
    # name); the name Helper is refused by the name field.
    await admin.button("New bot").click()
    taken = admin.dialog.get_by_role("checkbox", name="billing taken by Helper", exact=True)
    await expect(taken).to_be_disabled()
    await expect(
        key_box.get_by_role("option", name="Helper key (answers for Helper)")
    ).to_be_disabled()
    await expect(key_box).to_have_value(greeter_key.id)  # the only free one
    await admin.field("Name").fill("Helper")
    await admin.dialog.get_by_role("checkbox", name="general").check()
    await admin.button("Create bot").click()
    name_error = admin.dialog.locator("#e-name")
    await expect(name_error).to_have_text("A bot named 'Helper' exists already")
    await expect(admin.field("Name")).to_have_attribute("aria-invalid", "true")
    keep(await shots.take(page, "form-refused-taken-name"))
    await admin.field("Name").fill("Greeter")
    await admin.button("Create bot").click()
    await expect(admin.dialog).to_be_hidden()
    greeter = admin.row("Greeter")
    await expect(greeter).to_contain_text("general")
    await expect(greeter).to_contain_text("key Greeter key")
    await expect(greeter.locator("td.num")).to_have_text(["20 s", "0", "0", "0"])  # default

    # Edit: the dialog shows what Helper has; it gets account too and a longer timeout.
    await admin.button("Edit Helper").click()
    await expect(admin.field("Name")).to_have_value("Helper")
    await expect(endpoint_box).to_have_value(hook["id"])
    await expect(key_box).to_have_value(helper_key.id)
    await expect(admin.dialog.get_by_role("checkbox", name="billing")).to_be_checked()
    await expect(admin.dialog.get_by_role("checkbox", name="general")).to_be_disabled()
    await admin.dialog.get_by_role("checkbox", name="account").check()
    await admin.field("Answer timeout").fill("45")
    keep(await shots.take(page, "edit-form"))
    await admin.button("Save").click()
    await expect(admin.dialog).to_be_hidden()
    await expect(helper).to_contain_text("account")
    await expect(helper.locator("td.num").first).to_have_text("45 s")
    edited = (await bots(hub, token))["Helper"]
    assert (sorted(edited["topics"]), edited["answer_timeout_s"]) == (["account", "billing"], 45)

    await admin.button("Disable Greeter").click()
    await expect(greeter).to_contain_text("Disabled")
    assert (await bots(hub, token))["Greeter"]["enabled"] is False
    keep(await shots.take(page, "greeter-disabled"))
    await admin.button("Enable Greeter").click()
    await expect(greeter).to_contain_text("Active")
    assert (await bots(hub, token))["Greeter"]["enabled"] is True

    # Helper's figures: one chat it holds, one handed over by its visitor, one it resolved.
    await bot_chat(hub, "billing", "Helper")
    visitor, asked = await bot_chat(hub, "account", "Helper")
    await visitor.request({"type": "handoff", "conversation_id": asked})
    _, resolved = await bot_chat(hub, "billing", "Helper")
    r = await call(
        hub.server, "POST", f"/api/v1/conversations/{resolved}/close", key=helper_key.secret
    )
    assert r.status_code == 200, r.text
    await page.reload()
    await expect(helper.locator("td.num")).to_have_text(["45 s", "1", "1", "1"])
    keep(await shots.take(page, "list"))

    # Greeter's key revoked on the API keys page: its row says so.
    r = await api(
        hub.server, "POST", f"/api/v1/admin/api-keys/{greeter_key.id}/revoke", token=token
    )
    assert r.status_code == 200, r.text
    await page.reload()
    await expect(greeter).to_contain_text("key revoked")
    await expect(greeter).not_to_contain_text("Greeter key")

    async def accept(dialog: Dialog) -> None:
        assert "Greeter" in dialog.message
        await dialog.accept()

    page.once("dialog", accept)
    await admin.button("Delete Greeter").click()
    await expect(greeter).to_have_count(0)
    assert set(await bots(hub, token)) == {"Helper"}
    await admin.close()
