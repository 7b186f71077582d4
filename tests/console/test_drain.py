"""A rolling restart seen from the console: the hub process it is on drains and stops; the
console keeps chatting through the drain, then comes back on the other process by itself —
online again, the chat resumed, nothing lost and nothing twice."""

from __future__ import annotations

import asyncio
import signal
import uuid

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub
from tests.console.conftest import Console, start_hub, visitor_says
from tests.support.browser import Shots
from tests.support.netcut import NetCut

pytestmark = pytest.mark.browser


async def test_the_console_moves_to_the_other_process_after_a_drain(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    a = await start_hub(hub, CHATSERVER_DRAIN_S="4")
    b = hub.start_server()
    # The load balancer: every new connection goes to the process it points at.
    balancer = await NetCut(a.port).start()
    try:
        ann = await Console.open(browser, balancer.http)
        page = ann.page
        await ann.go_online()
        visitor, _ = await hub.visitor(server=b)
        await visitor.send(
            {
                "type": "start",
                "topic": "billing",
                "language": "en",
                "name": "Zoe Hart",
                "text": "Hi there",
            }
        )
        conv = (await visitor.expect("queued"))["conversation_id"]
        await ann.accept("Zoe Hart")
        await ann.say("Hello Zoe")
        await visitor.expect("message", text="Hello Zoe")

        assert a.proc is not None
        a.proc.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{a.http}/readyz")).status_code == 503
        balancer.target_port = b.port  # out of rotation: new connections go to B
        # The drain: the console still chats through process A.
        await visitor_says(visitor, conv, "Are you there?")
        await expect(ann.log).to_contain_text("Are you there?")
        await ann.say("Yes, one moment")
        await visitor.expect("message", text="Yes, one moment")

        # After it, A closes the socket (1012) and exits; the console comes back through the
        # balancer, on B, online as the agent left it.
        assert await asyncio.to_thread(a.proc.wait, 30) == 0
        a.proc = None
        await visitor_says(visitor, conv, "Still here")
        await expect(ann.log).to_contain_text("Still here", timeout=15_000)
        await expect(ann.status_button("Go away")).to_be_visible()
        await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_have_count(0)
        await ann.say("Back on another server")
        await visitor.expect("message", text="Back on another server")
        await shots.take(page, "after-restart")
        # Once each, in order.
        rows = ann.log.locator(".row.msg")
        texts = [t.strip() for t in await rows.all_inner_texts()]
        for said in (
            "Hi there",
            "Hello Zoe",
            "Are you there?",
            "Yes, one moment",
            "Still here",
            "Back on another server",
        ):
            assert sum(said in t for t in texts) == 1, (said, texts)
        assert ann.errors == []
        # And the router offers Ann a new chat on B: she is online there.
        other, _ = await hub.visitor(server=b)
        await other.send(
            {
                "type": "start",
                "topic": "billing",
                "language": "en",
                "name": "Max Roe",
                "text": str(uuid.uuid4()),
            }
        )
        await expect(ann.offer("Max Roe")).to_be_visible(timeout=10_000)
    finally:
        await balancer.close()
