"""The Webhooks admin page as an admin uses it, in real Chromium: create an endpoint (a refused
URL first), copy its secret, watch deliveries arrive in the log — one failing first — and
redeliver one. Screenshots go to `test-artifacts/webhooks/<test>/`."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from chatserver.webhooks import verify
from tests.admin.conftest import AdminPage
from tests.chatserver.integration.conftest import Hub
from tests.chatserver.integration.helpers import open_chat
from tests.support.browser import Shots
from tests.support.receiver import Received, Receiver
from tests.webhooks.conftest import start

pytestmark = pytest.mark.browser


async def test_an_admin_adds_an_endpoint_reads_its_log_and_redelivers(
    hub: Hub, browser: Browser, shots: Shots, receiver: Receiver
) -> None:
    # The receiver refuses the very first request; everything after goes through.
    def script(request: Received, n: int) -> tuple[int, float]:
        return (500, 0.0) if n == 0 else (200, 0.0)

    receiver.script = script
    await start(hub)
    admin = await AdminPage.open(browser, hub.server.http)
    page = admin.page
    await (
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Webhooks").click()
    )
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await expect(admin.table.get_by_text("No endpoints yet")).to_be_visible()
    await shots.take(page, "empty")

    await admin.button("New endpoint").click()
    await admin.field("URL").fill("http://10.0.0.8/hooks")
    await admin.field("Description optional").fill("CRM sync")
    await admin.dialog.get_by_role("checkbox", name="conversation.queued").uncheck()
    await admin.button("Create endpoint").click()
    await expect(
        admin.dialog.get_by_text("10.0.0.8 is a private, loopback or link-local address")
    ).to_be_visible()
    await shots.take(page, "refused-private-address")
    await admin.field("URL").fill(receiver.url)
    await shots.take(page, "new-endpoint-filled")
    await admin.button("Create endpoint").click()
    await expect(admin.dialog).to_be_hidden()
    secret = (await page.locator("#secret-value").text_content()) or ""
    assert secret.startswith("whsec_")
    row = admin.row(receiver.url)
    await expect(row).to_contain_text("CRM sync")
    await expect(row).to_contain_text("Active")
    await expect(row).not_to_contain_text("conversation.queued")
    await shots.take(page, "endpoint-created-secret-shown")
    await page.get_by_role("button", name="Done").click()

    agent, _ = await hub.agent("ann")
    visitor, _, conv = await open_chat(hub, agent, name="Vera")
    await visitor.request(
        {"type": "message", "conversation_id": conv, "text": "hello", "client_id": "v1"}
    )
    got = await receiver.arrived(3)
    assert [r.type for r in got] == [
        "conversation.created",
        "conversation.assigned",
        "message.created",
    ]
    assert all(verify(secret, r.body, r.headers["x-chatserver-signature"]) for r in got)
    assert receiver.received[0].answered == 500  # the first try of conversation.created

    await row.get_by_role("button", name="Deliveries").click()
    log = page.get_by_role("table", name="Deliveries")
    await expect(log.get_by_role("row")).to_have_count(4)
    created = log.get_by_role("row").filter(has_text="conversation.created")
    await expect(created).to_contain_text("Delivered")
    await expect(created.get_by_role("cell").nth(3)).to_have_text("2")
    await expect(row).to_contain_text("3")
    await shots.take(page, "delivery-log")

    await created.get_by_role("button", name="Redeliver").click()
    await expect(log.get_by_role("row").filter(has_text="redelivery")).to_have_count(1)
    again = (await receiver.arrived(4))[3]
    assert again.json == got[0].json
    await page.get_by_role("button", name="Refresh").click()
    await expect(log.get_by_role("row").filter(has_text="redelivery")).to_contain_text("Delivered")
    await shots.take(page, "redelivered")

    await row.get_by_role("button", name="Edit").click()
    await admin.dialog.get_by_role("checkbox", name="Send events to this endpoint").uncheck()
    await admin.button("Save").click()
    await expect(row).to_contain_text("Paused")
    await shots.take(page, "paused")
    assert admin.errors == []
