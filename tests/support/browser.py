"""Debian's Chromium driven by Playwright, as every browser test launches it."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.clock import TZ_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
# The machine has no internet: without the background-networking flags Chromium keeps trying.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ALL_SKILLS = {
    "general": 5,
    "billing": 5,
    "account": 5,
    "technical": 5,
    "en": 5,
    "es": 5,
    "ar": 5,
    "zh": 5,
}


@asynccontextmanager
async def chromium(*, shifted_clock: bool = False) -> AsyncIterator[Browser]:
    """Chromium; with ``shifted_clock`` every context it opens starts its pages' clock (Date,
    timers) at this process's "now", which `tests.support.clock` has moved."""
    if not HAVE_CHROMIUM:
        pytest.fail("Chromium is missing: ./dev.sh test installs Debian's `chromium` package")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if shifted_clock:
            _install_clock_on_new_contexts(browser)
        try:
            yield browser
        finally:
            await browser.close()


def _install_clock_on_new_contexts(browser: Browser) -> None:
    new_context = browser.new_context

    async def clocked_context(**options: Any) -> BrowserContext:
        options.setdefault("timezone_id", os.environ.get(TZ_VARIABLE, "UTC"))
        context = await new_context(**options)
        # Time runs on from there (not paused); the pages' Date agrees with the hub's clock.
        await context.clock.install(time=datetime.now(UTC))
        return context

    async def clocked_page(**options: Any) -> Page:
        return await (await clocked_context(**options)).new_page()

    setattr(browser, "new_context", clocked_context)  # noqa: B010 (shadowing a method on purpose)
    setattr(browser, "new_page", clocked_page)  # noqa: B010


class Shots:
    """Numbered screenshots of one test, kept as artifacts under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        shutil.rmtree(self.dir, ignore_errors=True)
        self.n = 0

    async def take(self, page: Page, state: str) -> Path:
        self.n += 1
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{self.n:02d}-{state}.png"
        await page.wait_for_timeout(250)  # let transitions settle
        await page.screenshot(path=str(path))
        return path


class SignedInPage:
    """One browser page of a staff member (console, dashboard, admin), signed in through
    `/login` as its user would; script errors are collected in ``errors``."""

    def __init__(self, context: BrowserContext, page: Page, base: str) -> None:
        self.context = context
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    async def sign_in(self, username: str, password: str) -> None:
        await self.page.goto(f"{self.base}/login")
        await self.page.get_by_role("textbox", name="Username").fill(username)
        await self.page.get_by_role("textbox", name="Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()

    async def close(self) -> None:
        await self.context.close()


class Refusals:
    """Counts the `unavailable` errors a page's WebSockets receive (made before the page
    opens its sockets); `at_least(n)` waits for them."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        self._changed = asyncio.Event()
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if '"unavailable"' in str(payload):
            self.count += 1
            self._changed.set()

    async def at_least(self, n: int, timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()
