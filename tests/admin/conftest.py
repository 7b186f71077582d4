"""The admin pages driven as an admin would: real Chromium through Playwright against real
`chatserver serve` processes and `redis-server`, with scripted visitors and agents (WebSocket
peers) to prove each change reaches the routing.

Screenshots of each page and state go to `test-artifacts/admin/<test>/`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Locator, expect

from tests.chatserver.integration.conftest import (
    PASSWORD,
    Hub,
    add_agent,
    hub,
    hub_env,
    make_hub,
)
from tests.support.browser import ARTIFACTS as ARTIFACTS_ROOT
from tests.support.browser import SignedInPage
from tests.support.server import ServerProcess

__all__ = ["hub", "hub_env", "make_hub"]  # fixtures shared with the integration tests

ARTIFACTS = ARTIFACTS_ROOT / "admin"
ADMIN = "root"

expect.set_options(timeout=10_000)


def routing_file(folder: Path, **values: Any) -> Path:
    """A routing TOML file with the shipped topics and these top-level timings."""
    path = folder / "routing.toml"
    path.write_text("".join(f"{k} = {v}\n" for k, v in values.items()), encoding="utf-8")
    return path


async def start_hub(hub: Hub, *, servers: int = 1, **env: str) -> list[ServerProcess]:
    """An admin (`root`, also supervisor), then `servers` processes on one data folder."""
    await add_agent(
        hub.data_dir,
        ADMIN,
        display_name="Rosa Admin",
        roles=("admin", "supervisor"),
        skills={"general": 3, "en": 5},
    )
    started = []
    for n in range(servers):
        server = ServerProcess(hub.data_dir, hub.redis.url, env={**hub.env, **env}, node_id=f"n{n}")
        server.start()
        hub.servers.append(server)
        started.append(server)
    return started


class AdminPage(SignedInPage):
    """One signed-in browser page on the admin pages, found by role and name."""

    @classmethod
    async def open(
        cls, browser: Browser, base: str, username: str = ADMIN, password: str = PASSWORD
    ) -> AdminPage:
        context = await browser.new_context(viewport={"width": 1360, "height": 860})
        page = await context.new_page()
        admin = cls(context, page, base)
        await admin.sign_in(username, password)
        await expect(page).not_to_have_url(re.compile(r"/login$"))
        return admin

    async def agents(self) -> None:
        await (
            self.page.get_by_role("navigation", name="Sections")
            .get_by_role("link", name="Agents")
            .click()
        )
        await expect(self.page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
        await expect(self.table.get_by_role("row").nth(1)).not_to_contain_text("Loading")

    async def topics(self) -> None:
        await (
            self.page.get_by_role("navigation", name="Sections")
            .get_by_role("link", name="Topics")
            .click()
        )
        await expect(self.page.get_by_role("heading", name="Topics", exact=True)).to_be_visible()
        await expect(self.table.get_by_role("row").nth(1)).not_to_contain_text("Loading")

    @property
    def table(self) -> Locator:
        return self.page.get_by_role("table")

    def row(self, text: str) -> Locator:
        return self.table.get_by_role("row").filter(has_text=text)

    @property
    def dialog(self) -> Locator:
        return self.page.get_by_role("dialog")

    def field(self, name: str) -> Locator:
        return self.dialog.get_by_role("textbox", name=name, exact=True)

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    async def close(self) -> None:
        assert not self.errors, self.errors
        await super().close()


async def api(
    server: ServerProcess,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json: Any = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as http:
        return await http.request(
            method, f"{server.http}{path}", headers=headers, json=json, timeout=10
        )


async def widget_config(server: ServerProcess) -> dict[str, Any]:
    """What the widget's pre-chat form offers on this process (`GET /widget/config`)."""
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{server.http}/widget/config")
    assert r.status_code == 200
    data: dict[str, Any] = r.json()
    return data
