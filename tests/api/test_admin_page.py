"""The admin page "API keys" driven as an admin would, in real Chromium: make a key (its
secret shown once, and it works), see it listed with its scopes and last use, revoke it (it
stops working at once); a refused form shows its error by the field. And the API reference
page, as a reader sees it. Screenshots of each state go to test-artifacts/api/<test>/."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import Browser, Dialog, expect

from tests.admin.conftest import AdminPage
from tests.api.conftest import call, start_hub
from tests.chatserver.integration.conftest import Hub
from tests.support.browser import Shots

#: Copies of the screenshots for reviewing the pages by eye.
REVIEW = Path("/tmp/shots-api")


def keep(shot: Path) -> None:
    REVIEW.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, REVIEW / f"{shot.parent.name}-{shot.name}")


async def test_make_use_and_revoke_a_key_on_the_page(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    (server,) = await start_hub(hub)
    admin = await AdminPage.open(browser, server.http)
    page = admin.page
    await (
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="API keys").click()
    )
    await expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    await expect(admin.table).to_contain_text("No API keys yet")
    keep(await shots.take(page, "empty"))

    await admin.button("New API key").click()
    await admin.button("Create key").click()  # no name
    await expect(admin.dialog.get_by_text("name: give the key a name")).to_be_visible()
    keep(await shots.take(page, "refused-without-a-name"))
    await admin.field("Name").fill("Acme CRM")
    await admin.dialog.get_by_role("checkbox", name="write").check()
    keep(await shots.take(page, "new-key-filled"))
    await admin.button("Create key").click()

    secret_panel = page.get_by_role("status", name="New API key")
    await expect(secret_panel).to_be_visible()
    secret = (await page.locator("#secret-value").text_content() or "").strip()
    assert secret.startswith("csk_")
    row = admin.row("Acme CRM")
    await expect(row).to_contain_text("read")
    await expect(row).to_contain_text("write")
    await expect(row).to_contain_text("never")
    keep(await shots.take(page, "key-created-secret-shown"))

    assert (await call(server, "GET", "/api/v1/agents", key=secret)).status_code == 200
    await page.reload()
    await expect(page.locator("#secret")).to_be_hidden()  # shown once
    await expect(admin.row("Acme CRM")).not_to_contain_text("never")  # its last use

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)
    await admin.button("Revoke Acme CRM").click()
    await expect(admin.row("Acme CRM")).to_contain_text("revoked")
    await expect(admin.button("Revoke Acme CRM")).to_have_count(0)
    keep(await shots.take(page, "key-revoked"))
    assert (await call(server, "GET", "/api/v1/agents", key=secret)).status_code == 401
    await admin.close()


async def test_reference_page(hub: Hub, browser: Browser, shots: Shots) -> None:
    (server,) = await start_hub(hub)
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{server.http}/api/docs")
    await expect(page.get_by_role("heading", name="chatserver REST API")).to_be_visible()
    keep(await shots.take(page, "top"))
    await (
        page.get_by_role("navigation", name="Operations")
        .get_by_role("link", name="Post a message the visitor sees at once")
        .click()
    )
    message = page.locator("#postMessage")
    await expect(message).to_contain_text("as_agent")
    await expect(message).to_contain_text("429")
    keep(await shots.take(page, "post-message"))
    await page.locator("#schema-Event").scroll_into_view_if_needed()
    keep(await shots.take(page, "schemas"))
    assert errors == []  # nothing blocked by the page's policy, nothing missing
    await context.close()
