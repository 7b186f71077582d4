"""Browser tests of the widget: real Chromium (Debian's `chromium`) through Playwright, against a
real `chatserver serve` process and `redis-server`, with scripted agents (WebSocket peers).

Screenshots of each state go to `test-artifacts/widget/<test>/`.
"""

from __future__ import annotations

import weakref
from typing import Any

import httpx
from playwright.async_api import (
    Browser,
    BrowserContext,
    Frame,
    FrameLocator,
    Locator,
    Page,
    expect,
)

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent, hub, hub_env
from tests.support.browser import ALL_SKILLS
from tests.support.browser import ARTIFACTS as ARTIFACTS_ROOT
from tests.support.peer import Peer
from tests.support.server import ServerProcess

# The fixtures shared with the hub's integration tests, and the skills the agents here get.
__all__ = ["ALL_SKILLS", "hub", "hub_env"]

ARTIFACTS = ARTIFACTS_ROOT / "widget"
FRAME = 'iframe[title="Chat"]'

expect.set_options(timeout=10_000)

#: What each page made by `new_page` reported: its page errors and dialogs.
_PAGE_ERRORS: weakref.WeakKeyDictionary[Page, list[str]] = weakref.WeakKeyDictionary()


async def start_hub(hub: Hub, *, agents: tuple[str, ...] = ("ann",), **env: str) -> ServerProcess:
    """Agents with every skill (display name "<Name> Lee"), then the server."""
    for username in agents:
        await add_agent(
            hub.data_dir, username, skills=ALL_SKILLS, display_name=f"{username.title()} Lee"
        )
    return hub.start_server(**env)


async def new_page(
    browser: Browser, *, locale: str = "en-US", **options: Any
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        locale=locale, viewport=options.pop("viewport", {"width": 1280, "height": 800}), **options
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
    _PAGE_ERRORS[page] = errors
    return context, page


def page_errors(page: Page) -> list[str]:
    """What a page made by `new_page` reported: page errors, and dialogs as "dialog: <message>"."""
    return _PAGE_ERRORS[page]


class Widget:
    """The widget on a host page, found by role and name as a visitor would."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.ui: FrameLocator = page.frame_locator(FRAME)

    @property
    def launcher(self) -> Locator:
        return self.page.locator(".chathub-launcher")

    @property
    def log(self) -> Locator:
        return self.ui.get_by_role("log")

    async def frame(self) -> Frame:
        handle = await self.page.locator(FRAME).element_handle()
        assert handle is not None
        frame = await handle.content_frame()
        assert frame is not None
        return frame

    async def open(self) -> None:
        await self.page.get_by_role("button", name="Open chat").click()
        await expect(self.page.get_by_role("button", name="Close chat")).to_be_visible()

    async def start(
        self, *, name: str = "Sam Carter", email: str = "sam@example.com", topic: str = "billing"
    ) -> None:
        await self.ui.get_by_role("textbox", name="Name").fill(name)
        await self.ui.get_by_role("textbox", name="Email").fill(email)
        await self.ui.get_by_role("combobox", name="Topic").select_option(topic)
        await self.ui.get_by_role("button", name="Start chat").click()

    async def say(self, text: str) -> None:
        box = self.ui.get_by_role("textbox", name="Message")
        await box.fill(text)
        await box.press("Enter")

    def row(self, text: str) -> Locator:
        return self.log.locator(".row.msg", has_text=text)

    async def messages(self) -> list[str]:
        """The text of every message in the transcript, in display order."""
        frame = await self.frame()
        texts: list[str] = await frame.eval_on_selector_all(
            ".log .row.msg .bubble", "els => els.map(e => e.textContent)"
        )
        return texts

    async def focused(self) -> str:
        """A short description of the element focused inside the chat frame."""
        frame = await self.frame()
        desc: str = await frame.evaluate(
            """() => { const e = document.activeElement;
                 return e ? (e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].textContent) || e.textContent || e.tagName).trim() : ''; }"""
        )
        return desc


async def agent_online(hub: Hub, username: str = "ann") -> Peer:
    peer, _ = await hub.agent(username)
    return peer


async def accept_next(agent: Peer, timeout: float = 15.0) -> str:
    offer = await agent.expect("offer", timeout=timeout)
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    conv: str = offer["conversation"]["conversation_id"]
    return conv


async def agent_says(agent: Peer, conv: str, text: str) -> dict[str, Any]:
    import uuid

    return await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": str(uuid.uuid4()), "text": text}
    )


async def transcript(server: ServerProcess, username: str, conv: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{server.http}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        token = r.json()["token"]
        r = await http.get(
            f"{server.http}/api/v1/conversations/{conv}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data
