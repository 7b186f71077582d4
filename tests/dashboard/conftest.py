"""Dashboard tests: a real `chatserver serve` process and `redis-server`, scripted visitors and
agents (WebSocket peers), and real Chromium for the pages. Screenshots of each page and state
go to `test-artifacts/dashboard/<test>/`.

The figures the tests expect are worked out here from the SQLite file with plain SQL and this
module's own percentile, never with the hub's code.
"""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.chatserver.integration.conftest import (
    PASSWORD,
    Hub,
    add_agent,
    hub,
    hub_env,
    make_hub,
)
from tests.support.browser import ALL_SKILLS, SignedInPage
from tests.support.browser import ARTIFACTS as ARTIFACTS_ROOT
from tests.support.peer import Peer
from tests.support.server import ServerProcess
from tests.support.stores import query

__all__ = ["hub", "hub_env", "make_hub"]  # fixtures shared with the integration tests

ARTIFACTS = ARTIFACTS_ROOT / "dashboard"
AGENTS = {"ann": "Ann Lee", "bob": "Bob Okafor"}

expect.set_options(timeout=10_000)


async def start_hub(hub: Hub, **env: str) -> ServerProcess:
    """Two agents (every skill, capacity 2), a supervisor, an analyst and an admin; then the
    server."""
    for username, name in AGENTS.items():
        await add_agent(hub.data_dir, username, skills=ALL_SKILLS, capacity=2, display_name=name)
    await add_agent(hub.data_dir, "sue", roles=("supervisor",), display_name="Sue Park")
    await add_agent(hub.data_dir, "ada", roles=("analyst",), display_name="Ada Byron")
    await add_agent(hub.data_dir, "root", roles=("admin",), display_name="Root Admin")
    return hub.start_server(**env)


class StaffPage(SignedInPage):
    """A signed-in browser page; collects script errors and CSP violations."""

    def __init__(self, context: BrowserContext, page: Page, base: str) -> None:
        super().__init__(context, page, base)
        # Console errors include CSP violations ("Refused to apply inline style…"); a
        # deliberate 400 page shows up as "Failed to load resource" and is left out.
        page.on(
            "console",
            lambda m: (
                self.errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )

    @classmethod
    async def open(
        cls, browser: Browser, base: str, username: str = "sue", path: str = "/dashboard"
    ) -> StaffPage:
        context = await browser.new_context(viewport={"width": 1440, "height": 1000})
        await context.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
        )
        page = await context.new_page()
        staff = cls(context, page, base)
        await staff.sign_in(username, PASSWORD)
        await expect(page).not_to_have_url(re.compile(r"/login$"))
        await page.goto(f"{base}{path}")
        return staff

    async def csp_violations(self) -> list[str]:
        """What the page's Content-Security-Policy refused (Chart.js included)."""
        found: list[str] = await self.page.evaluate("window.__csp")
        return found

    def tile(self, name: str) -> Any:
        return self.page.get_by_role("group", name=name, exact=True).locator(".tile-value")


async def token(hub: Hub, username: str) -> str:
    return await hub.login(username)


async def api(hub: Hub, path: str, username: str | None = "sue") -> httpx.Response:
    headers = {"Authorization": f"Bearer {await hub.login(username)}"} if username else {}
    async with httpx.AsyncClient(follow_redirects=False) as http:
        return await http.get(f"{hub.server.http}{path}", headers=headers)


# --- scripted peers --------------------------------------------------------------------------


async def visitor_starts(
    hub: Hub, name: str, topic: str = "billing", text: str = "Hello?"
) -> tuple[Peer, str]:
    peer, _ = await hub.visitor()
    queued = await peer.request(
        {"type": "start", "topic": topic, "language": "en", "name": name, "text": text},
        expect="queued",
    )
    return peer, str(queued["conversation_id"])


async def next_offer(agents: dict[str, Peer], conv: str, timeout: float = 10) -> tuple[str, str]:
    """(username, offer_id) of the first agent offered `conv`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for username, peer in agents.items():
            for frame in peer.take("offer"):
                if frame["conversation"]["conversation_id"] == conv:
                    return username, str(frame["offer_id"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no offer for {conv} within {timeout}s")


async def accept(agents: dict[str, Peer], conv: str) -> str:
    username, offer_id = await next_offer(agents, conv)
    await agents[username].request({"type": "accept", "offer_id": offer_id}, expect="assigned")
    return username


async def say(peer: Peer, conv: str, text: str) -> None:
    import uuid

    await peer.request(
        {"type": "message", "conversation_id": conv, "client_id": uuid.uuid4().hex, "text": text}
    )


async def set_status(peer: Peer, status: str) -> None:
    await peer.request({"type": "status", "status": status})


# --- the figures, from the SQLite file ---------------------------------------------------------


def nearest_rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


def _ms(iso: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def store_rows(data_dir: Path) -> list[dict[str, Any]]:
    """Per conversation: its row and the times the figures use, read with plain SQL."""
    rows = query(
        data_dir,
        "SELECT c.id, c.topic, c.status, c.created_at, c.closed_at, c.rating,"
        " c.last_agent_id, c.agent_id, a.username,"
        " (SELECT min(ts) FROM events e WHERE e.conversation_id = c.id"
        "   AND e.kind = 'assigned'),"
        " (SELECT min(ts) FROM events e WHERE e.conversation_id = c.id"
        "   AND e.kind = 'message' AND e.actor_role = 'agent'),"
        " h.username"
        " FROM conversations c LEFT JOIN agents a ON a.id = c.last_agent_id"
        " LEFT JOIN agents h ON h.id = c.agent_id",
    )
    out = []
    for cid, topic, status, created, closed, rating, _, _, last, assigned, frt, holder in rows:
        out.append(
            {
                "id": cid,
                "topic": topic,
                "status": status,
                "created": created,
                "created_ms": _ms(created),
                "closed_ms": _ms(closed) if closed else None,
                "rating": rating,
                "last_agent": last,
                "holder": holder,
                "assigned_ms": _ms(assigned) if assigned else None,
                "frt_ms": _ms(frt) if frt else None,
            }
        )
    return out
