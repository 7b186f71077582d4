"""Browser tests of the agent console: real Chromium through Playwright, against a real
`chatserver serve` process and `redis-server`, with scripted visitors and agents
(WebSocket peers).

Screenshots of each state go to `test-artifacts/console/<test>/`.
"""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import Browser, Locator, expect

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent, hub, hub_env
from tests.support.browser import ALL_SKILLS, SignedInPage
from tests.support.browser import ARTIFACTS as ARTIFACTS_ROOT
from tests.support.peer import Peer
from tests.support.server import ServerProcess

# The fixtures shared with the hub's integration tests, and the skills the agents here get.
__all__ = ["ALL_SKILLS", "hub", "hub_env"]

ARTIFACTS = ARTIFACTS_ROOT / "console"

expect.set_options(timeout=10_000)


async def start_hub(
    hub: Hub,
    *,
    agents: tuple[str, ...] = ("ann",),
    roles: tuple[str, ...] = ("agent",),
    **env: str,
) -> ServerProcess:
    """Agents with every skill (display name "<Name> Lee"), then the server."""
    for username in agents:
        await add_agent(
            hub.data_dir,
            username,
            skills=ALL_SKILLS,
            display_name=f"{username.title()} Lee",
            roles=roles,
        )
    server = ServerProcess(
        hub.data_dir, hub.redis_url or hub.redis.url, env={**hub.env, **env}, node_id="n0"
    )
    server.start()
    hub.servers.append(server)
    return server


class Console(SignedInPage):
    """The console in one browser page, found by role and name as an agent would."""

    @classmethod
    async def open(
        cls, browser: Browser, base: str, username: str = "ann", password: str = PASSWORD
    ) -> Console:
        context = await browser.new_context(viewport={"width": 1360, "height": 820})
        page = await context.new_page()
        console = cls(context, page, base)
        await console.sign_in(username, password)
        await expect(page).to_have_url(f"{base}/console")
        await expect(console.status_button("Go online")).to_be_enabled()
        return console

    def status_button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    async def go_online(self) -> None:
        await self.status_button("Go online").click()
        await expect(self.status_button("Go away")).to_be_visible()

    def offer(self, name: str) -> Locator:
        return self.page.get_by_role("article", name=f"Offer from {name}")

    async def accept(self, name: str) -> None:
        await self.offer(name).get_by_role("button", name="Accept").click()
        await expect(self.offer(name)).to_have_count(0)
        await expect(self.page.get_by_role("tab", name=name)).to_be_visible()

    @property
    def log(self) -> Locator:
        return self.page.get_by_role("log", name="Transcript")

    @property
    def box(self) -> Locator:
        return self.page.get_by_role("textbox", name="Message")

    async def say(self, text: str) -> None:
        await self.box.fill(text)
        await self.box.press("Enter")


async def visitor_starts(
    hub: Hub,
    name: str = "Sam Carter",
    text: str = "My invoice is wrong",
    *,
    topic: str = "billing",
    email: str = "sam@example.com",
    page_url: str = "https://shop.example/account/invoices",
) -> tuple[Peer, str]:
    peer, _ = await hub.visitor()
    await peer.send(
        {
            "type": "start",
            "topic": topic,
            "language": "en",
            "name": name,
            "email": email,
            "text": text,
            "page_url": page_url,
        }
    )
    queued = await peer.expect("queued")
    conv: str = queued["conversation_id"]
    return peer, conv


async def visitor_says(peer: Peer, conv: str, text: str) -> dict[str, Any]:
    return await peer.request(
        {"type": "message", "conversation_id": conv, "client_id": str(uuid.uuid4()), "text": text}
    )
