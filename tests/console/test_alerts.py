"""Offer alerts: a beep, a desktop notification while the tab is hidden (permission asked only
when the agent clicks), and the card's countdown until the offer is withdrawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.console.conftest import Console, start_hub, visitor_starts
from tests.support.browser import Shots

pytestmark = pytest.mark.browser

# Record notifications and beeps instead of making them; the tab's visibility is ours to set.
SPY = """
window.__alerts = { notes: [], beeps: 0, asked: 0 };
class FakeNotification {
  static permission = "default";
  static requestPermission() {
    window.__alerts.asked += 1;
    FakeNotification.permission = "granted";
    return Promise.resolve("granted");
  }
  constructor(title, options) { window.__alerts.notes.push({ title, body: options && options.body }); }
  close() {}
}
window.Notification = FakeNotification;
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__alerts.beeps += 1;
  return createOscillator.call(this);
};
Object.defineProperty(document, "hidden", { configurable: true, get: () => window.__hidden === true });
"""


@pytest.mark.clock_shifted
async def test_offer_beeps_notifies_when_hidden_and_expires(
    hub: Hub, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    config = tmp_path / "routing.toml"
    config.write_text("offer_timeout_s = 4\n")
    server = await start_hub(hub, CHATSERVER_ROUTING_CONFIG=str(config))
    ann = await Console.open(browser, server.http)
    page = ann.page
    await page.add_init_script(SPY)
    await page.reload()
    await ann.go_online()

    # Asked politely: a button after going online, never a prompt out of the blue.
    assert await page.evaluate("window.__alerts.asked") == 0
    await page.get_by_role("button", name="Enable desktop notifications").click()
    await expect(page.get_by_role("button", name="Enable desktop notifications")).to_be_hidden()
    assert await page.evaluate("window.__alerts.asked") == 1

    await page.evaluate("window.__hidden = true")
    await visitor_starts(hub, "Rosa Lima", "Is anyone there?")
    offer = ann.offer("Rosa Lima")
    await expect(offer).to_contain_text("s left")
    await shots.take(page, "offer-countdown")
    alerts = await page.evaluate("window.__alerts")
    assert alerts["beeps"] >= 1
    assert alerts["notes"] == [{"title": "New chat: Rosa Lima", "body": "Is anyone there?"}]

    # Not answered in time: withdrawn, the card goes.
    await expect(offer).to_have_count(0, timeout=15_000)
    await expect(page.get_by_role("tab")).to_have_count(0)
    assert ann.errors == []
    await ann.close()
