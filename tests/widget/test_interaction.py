"""Keyboard-only use, focus, the leave-a-message form, small screens, the host page API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from playwright.async_api import Browser, Frame, Page, expect

from tests.chatserver.integration.conftest import Hub
from tests.support.browser import Shots
from tests.widget.conftest import (
    Widget,
    accept_next,
    agent_online,
    agent_says,
    new_page,
    start_hub,
)

pytestmark = pytest.mark.browser


async def tab_to(widget: Widget, name: str, key: str = "Tab", limit: int = 12) -> None:
    """Press Tab (or Shift+Tab) until the control named `name` has the focus."""
    for _ in range(limit):
        if await widget.focused() == name:
            return
        await widget.page.keyboard.press(key)
    raise AssertionError(f"{name!r} not reached with {key}; focus is on {await widget.focused()!r}")


async def test_keyboard_only_completes_a_chat(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub)
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    widget = Widget(page)
    keys = page.keyboard
    await page.goto(f"{server.http}/demo")
    await expect(widget.launcher).to_be_visible()
    launcher = page.get_by_role("button", name="Open chat")
    await keys.press("Shift+Tab")  # from the top of the page, back to the last control
    await expect(launcher).to_be_focused()
    await keys.press("Enter")
    await expect(widget.ui.get_by_role("textbox", name="Name")).to_be_focused()
    await keys.type("Kim")
    await keys.press("Tab")
    await expect(widget.ui.get_by_role("textbox", name="Email")).to_be_focused()
    await keys.type("kim@example.com")
    await keys.press("Tab")
    topic = widget.ui.get_by_role("combobox", name="Topic")
    await expect(topic).to_be_focused()
    await keys.press("ArrowDown")
    await expect(topic).to_have_value("billing")
    await tab_to(widget, "Start chat")
    await shots.take(page, "keyboard-prechat")
    await keys.press("Enter")

    conv = await accept_next(ann)
    box = widget.ui.get_by_role("textbox", name="Message")
    await expect(box).to_be_focused()
    await keys.type("Typed with the keyboard only")
    await keys.press("Enter")
    await ann.expect("message", conversation_id=conv, text="Typed with the keyboard only")
    await agent_says(ann, conv, "Got it")
    await expect(widget.row("Got it")).to_be_visible()

    await tab_to(widget, "End chat", key="Shift+Tab")
    await keys.press("Enter")
    first_star = widget.ui.get_by_role("radio", name="1 star, poor")
    await expect(first_star).to_be_focused()
    for _ in range(3):
        await keys.press("ArrowRight")
    await expect(widget.ui.get_by_role("radio", name="4 stars, very good")).to_be_checked()
    await keys.press("Tab")
    await expect(widget.ui.get_by_role("textbox", name="Comment")).to_be_focused()
    await keys.type("All done by keyboard")
    await keys.press("Tab")
    await expect(widget.ui.get_by_role("button", name="Submit rating")).to_be_focused()
    await keys.press("Enter")
    await expect(widget.ui.get_by_text("Thanks for your feedback!")).to_be_visible()
    rated = await ann.expect("rated", conversation_id=conv)
    assert (rated["score"], rated["comment"]) == (4, "All done by keyboard")
    await shots.take(page, "keyboard-rated")

    # Escape closes the panel and gives the focus back to the launcher.
    await keys.press("Escape")
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await context.close()


async def test_no_agent_online_leave_a_message(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub)  # Ann exists but is not online
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await widget.open()
    await widget.start(name="Lou", email="lou@example.com", topic="technical")
    send = widget.ui.get_by_role("button", name="Send message")
    await expect(send).to_be_visible()
    await expect(widget.ui.get_by_text("No one is available right now").first).to_be_visible()
    message = widget.ui.get_by_role("textbox", name="Message")
    await expect(message).to_be_focused()
    await expect(widget.ui.get_by_role("textbox", name="Email")).to_have_value("lou@example.com")
    await send.click()
    await expect(widget.ui.get_by_text("Write a message first")).to_be_visible()
    await expect(message).to_have_attribute("aria-invalid", "true")
    await message.fill("The app crashes when I export a report. Please email me.")
    await shots.take(page, "leave-a-message")
    await send.click()
    await expect(widget.ui.get_by_text("Message sent")).to_be_visible()
    await expect(widget.row("The app crashes")).to_be_visible()
    await shots.take(page, "message-left")

    # The conversation waits for the next agent, who sees the message.
    ann = await agent_online(hub)
    conv = await accept_next(ann)
    history = await ann.expect("message", conversation_id=conv)
    assert history["text"] == "The app crashes when I export a report. Please email me."
    await expect(widget.log).to_contain_text("Ann Lee joined the chat")
    await agent_says(ann, conv, "Hi Lou, I can help now.")
    await expect(widget.row("I can help now")).to_be_visible()
    await context.close()


async def test_small_screens_get_a_full_screen_panel(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    context, page = await new_page(browser, viewport={"width": 375, "height": 740})
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await widget.launcher.click()
    box = await page.locator('iframe[title="Chat"]').bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 740}
    await expect(widget.ui.get_by_role("textbox", name="Name")).to_be_focused()
    await shots.take(page, "mobile-prechat")
    await widget.ui.get_by_role("button", name="Minimize chat").click()
    await expect(page.get_by_role("button", name="Open chat")).to_be_focused()
    await context.close()

    # Wider than 480 px: a floating panel.
    context, page = await new_page(browser, viewport={"width": 800, "height": 740})
    await page.goto(f"{server.http}/demo")
    await Widget(page).open()
    box = await page.locator('iframe[title="Chat"]').bounding_box()
    assert box and box["width"] < 420 and box["x"] > 300
    await context.close()


EVENTS = ["ready", "open", "close", "message", "unread", "queue", "closed"]


async def events(page: Page) -> list[list[Any]]:
    got: list[list[Any]] = await page.evaluate("window.seen.splice(0)")
    return got


async def test_the_host_page_api(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub)
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await expect(widget.launcher).to_be_visible()
    # Included twice: still one global, one launcher, one frame, one style sheet.
    # The tag is added once the script's `load` has fired, which is after it ran; the loader
    # does all it does to the page as it runs, so a second launcher would be there now.
    await page.add_script_tag(url=f"{server.http}/widget.js")
    assert await page.evaluate(
        """() => [typeof ChatHub.open, document.querySelectorAll('.chathub-launcher').length,
                  document.querySelectorAll('iframe[title="Chat"]').length,
                  document.querySelectorAll('#chathub-css').length]"""
    ) == ["function", 1, 1, 1]

    await page.evaluate(
        f"""() => {{ window.seen = [];
            for (const name of {json.dumps(EVENTS)}) ChatHub.on(name, (d) => seen.push([name, d])); }}"""
    )
    assert await events(page) == [["ready", {}]]  # `ready` had fired: the handler runs at once

    await page.evaluate("ChatHub.identify({name: 'Iris', email: 'iris@example.com'})")
    await page.evaluate("ChatHub.open()")
    await expect(widget.ui.get_by_role("textbox", name="Name")).to_have_value("Iris")
    await expect(widget.ui.get_by_role("textbox", name="Email")).to_have_value("iris@example.com")
    await widget.ui.get_by_role("button", name="Start chat").click()
    conv = await accept_next(ann)
    await agent_says(ann, conv, "Hello Iris")
    await expect(widget.row("Hello Iris")).to_be_visible()
    await page.evaluate("ChatHub.close()")
    await expect(widget.ui.locator(".panel")).to_have_attribute("data-open", "false")
    await agent_says(ann, conv, "Are you still there?")
    await expect(page.locator(".chathub-badge")).to_have_text("1")
    await shots.take(page, "unread-badge")
    await page.evaluate("ChatHub.open()")
    await expect(page.locator(".chathub-badge")).to_be_hidden()
    await ann.request({"type": "close", "conversation_id": conv})
    await expect(widget.ui.get_by_role("radiogroup", name="Rating")).to_be_visible()

    seen = await events(page)
    names = [name for name, _ in seen]
    assert names[0] == "open" and names[-1] == "closed", seen
    assert "queue" in names
    assert ["close", {}] in seen and ["unread", {"count": 1}] in seen
    assert ["unread", {"count": 0}] in seen
    messages = [d for n, d in seen if n == "message"]
    assert [m["from"] for m in messages] == [{"role": "agent"}, {"role": "agent"}], seen
    assert all(set(m) == {"seq", "from", "ts"} for m in messages)  # never the text itself
    assert seen[-1] == ["closed", {"by": "agent"}]
    await context.close()


CONTRAST_JS = """() => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1); };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    return layers.reverse().reduce((acc, layer) => over(layer, acc), [255, 255, 255, 1]);
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    if (!text || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const s = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(s.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push(`${text.slice(0, 30)}: ${ratio.toFixed(2)} < ${need}`);
  }
  return bad;
}"""


async def low_contrast(frame: Frame | Page) -> list[str]:
    bad: list[str] = await frame.evaluate(CONTRAST_JS)
    return bad


@pytest.mark.parametrize("color", ["#2b4fd8", "#ffd400", "#7fb3ff"])
async def test_text_contrast_meets_wcag_aa(hub: Hub, browser: Browser, color: str) -> None:
    server = await start_hub(hub)
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    # The frame on a page of its own, with the colour the loader passes from data-color.
    await page.goto(f"{server.http}/widget/frame?site=demo&color={color.replace('#', '%23')}")
    widget_ui = page
    await expect(widget_ui.get_by_role("button", name="Start chat")).to_be_visible()
    assert await low_contrast(page) == []
    await widget_ui.get_by_role("textbox", name="Name").fill("Ada")
    await widget_ui.get_by_role("button", name="Start chat").click()
    conv = await accept_next(ann)
    await agent_says(ann, conv, "Hello! Docs: https://example.com/docs")
    box = widget_ui.get_by_role("textbox", name="Message")
    await box.fill("Thanks, reading https://example.com/docs now")
    await box.press("Enter")
    reply = await ann.expect(
        "message", conversation_id=conv, text="Thanks, reading https://example.com/docs now"
    )
    await ann.send({"type": "read", "conversation_id": conv, "seq": reply["seq"]})
    await ann.send({"type": "typing", "conversation_id": conv, "active": True})
    await expect(widget_ui.get_by_text("Read", exact=True)).to_be_visible()
    await expect(widget_ui.get_by_text("Ann Lee is typing…")).to_be_visible()
    assert await low_contrast(page) == []
    await ann.request({"type": "close", "conversation_id": conv})
    await expect(widget_ui.get_by_role("radiogroup", name="Rating")).to_be_visible()
    await asyncio.sleep(0.2)
    assert await low_contrast(page) == []
    await context.close()
