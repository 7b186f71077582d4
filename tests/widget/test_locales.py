"""Locales: from the browser's language or `data-locale`; Arabic lays out right to left."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, expect

from chatserver.web.assets import WIDGET_DIR
from tests.chatserver.integration.conftest import Hub
from tests.support.browser import Shots
from tests.support.netcut import HostPage
from tests.widget.conftest import (
    Widget,
    accept_next,
    agent_online,
    agent_says,
    new_page,
    start_hub,
)

pytestmark = pytest.mark.browser


def table(code: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((WIDGET_DIR / "locales" / f"{code}.json").read_text())
    return data


async def test_arabic_lays_out_right_to_left(hub: Hub, browser: Browser, shots: Shots) -> None:
    ar = table("ar")
    server = await start_hub(hub)
    ann = await agent_online(hub)
    context, page = await new_page(browser, locale="ar-EG")  # the browser's language
    widget = Widget(page)
    await page.goto(f"{server.http}/demo")
    await page.get_by_role("button", name=ar["launcher_open"]).click()
    await expect(page.get_by_role("button", name=ar["launcher_close"])).to_be_visible()
    frame = await widget.frame()
    assert await frame.evaluate(
        "[document.documentElement.dir, document.documentElement.lang]"
    ) == [
        "rtl",
        "ar",
    ]
    ui = widget.ui
    await expect(ui.get_by_role("combobox", name=ar["language"])).to_have_value("ar")
    await expect(ui.get_by_role("combobox", name=ar["topic"]).locator("option").first).to_have_text(
        ar["topic_general"]
    )
    name = ui.get_by_role("textbox", name=ar["name"])
    await name.fill("سارة")
    await shots.take(page, "arabic-prechat")
    await ui.get_by_role("button", name=ar["start"]).click()
    conv = await accept_next(ann)
    await agent_says(ann, conv, "مرحبًا سارة، كيف يمكنني مساعدتك؟")
    box = ui.get_by_role("textbox", name=ar["message"])
    await box.fill("لدي سؤال عن الفاتورة")
    await box.press("Enter")
    await ann.expect("message", conversation_id=conv, text="لدي سؤال عن الفاتورة")
    await expect(widget.row("لدي سؤال عن الفاتورة").locator(".state")).to_have_text(
        ar["state_sent"]
    )

    # Right to left: the visitor's bubble sits on the left, the agent's on the right, the
    # send button left of the message box, the close button at the far left of the header.
    mine = await widget.row("لدي سؤال عن الفاتورة").locator(".bubble").bounding_box()
    theirs = await widget.row("مرحبًا سارة").locator(".bubble").bounding_box()
    send = await ui.get_by_role("button", name=ar["send"]).bounding_box()
    field = await box.bounding_box()
    minimize = await ui.get_by_role("button", name=ar["minimize"]).bounding_box()
    title = await ui.locator(".head h1").bounding_box()
    assert mine and theirs and send and field and minimize and title
    assert mine["x"] < theirs["x"]
    assert send["x"] + send["width"] <= field["x"]
    assert minimize["x"] < title["x"]
    await shots.take(page, "arabic-chat")
    await context.close()


async def test_spanish_from_the_browser_and_chinese_from_data_locale(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    es, zh, en = table("es"), table("zh"), table("en")
    host = await HostPage("").start()
    sites = {"default": ["self"], "demo": ["self"], "shop": [host.origin, "self"]}
    server = await start_hub(hub, CHATSERVER_SITES=json.dumps(sites))
    host.html = (
        f'<!doctype html><title>Shop</title><script src="{server.http}/widget.js" '
        'data-site="shop" data-locale="zh" data-position="left" data-color="#0a7d38" '
        "async></script>"
    ).encode()
    try:
        context, page = await new_page(browser, locale="es-MX")
        widget = Widget(page)
        await page.goto(f"{server.http}/demo")
        await page.get_by_role("button", name=es["launcher_open"]).click()
        await expect(widget.ui.get_by_role("button", name=es["start"])).to_be_visible()
        await expect(widget.ui.get_by_role("textbox", name=es["email"])).to_be_visible()
        # The language box overrides the browser's language, for the UI and the conversation.
        await widget.ui.get_by_role("combobox", name=es["language"]).select_option("en")
        await expect(widget.ui.get_by_role("button", name=en["start"])).to_be_visible()
        await expect(page.get_by_role("button", name=en["launcher_close"])).to_be_visible()

        # data-locale wins over the browser's language; data-position and data-color apply.
        await page.goto(host.origin)
        launcher = page.get_by_role("button", name=zh["launcher_open"])
        await expect(launcher).to_have_css("background-color", "rgb(10, 125, 56)")
        box = await launcher.bounding_box()
        assert box and box["x"] < 40
        await launcher.click()
        await expect(widget.ui.get_by_role("button", name=zh["start"])).to_be_visible()
        await expect(widget.ui.get_by_role("combobox", name=zh["topic"])).to_be_visible()
        await shots.take(page, "chinese-prechat")
        # ChatHub.setLocale switches at run time.
        await page.evaluate("ChatHub.setLocale('es')")
        await expect(widget.ui.get_by_role("button", name=es["start"])).to_be_visible()
        await expect(page.get_by_role("button", name=es["launcher_close"])).to_be_visible()
        await context.close()
    finally:
        await host.close()


def test_every_locale_has_every_string() -> None:
    en = table("en")
    for code in ("es", "ar", "zh"):
        other = table(code)
        assert set(other) == set(en), code
        assert all(isinstance(v, str) and v.strip() for v in other.values()), code
        assert {k for k, v in other.items() if v == en[k] and k != "dir"} <= {"transcript_file"}, (
            f"{code}: untranslated strings"
        )
    assert table("ar")["dir"] == "rtl"
    assert {table(c)["dir"] for c in ("en", "es", "zh")} == {"ltr"}
