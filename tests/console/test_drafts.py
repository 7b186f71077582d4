"""Nothing typed is lost to a reload or a closed tab: drafts and note drafts come back, and a
message sent while the hub was unreachable (or whose ack never came) is re-sent on the next load
with the same `client_id` — the visitor gets it exactly once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.chatserver.integration.conftest import Hub
from tests.console.conftest import Console, start_hub, visitor_starts
from tests.support.browser import Shots

pytestmark = pytest.mark.browser

AGENT_SOCKET = re.compile(r"/ws/agent$")


class SocketGate:
    """The console's WebSocket, routed through Playwright so a test can cut it (`blocked`: the
    hub is unreachable, new connections are refused) or swallow the hub's answers on the
    connections open now (`mute`: the ack is lost on the way back) — while HTTP, and so page
    loads, keep working."""

    def __init__(self) -> None:
        self.blocked = False
        self.open: list[tuple[WebSocketRoute, WebSocketRoute]] = []
        self.muted: set[int] = set()

    async def install(self, page: Page) -> None:
        await page.route_web_socket(AGENT_SOCKET, self.handle)

    async def handle(self, ws: WebSocketRoute) -> None:
        if self.blocked:
            await ws.close(code=4000, reason="hub unreachable")
            return
        server = ws.connect_to_server()
        ws.on_message(server.send)
        server.on_message(lambda m: None if id(ws) in self.muted else ws.send(m))
        self.open.append((ws, server))

    def mute(self) -> None:
        self.muted.update(id(ws) for ws, _ in self.open)

    async def cut(self) -> None:
        self.blocked = True
        for ws, server in self.open:
            await server.close()
            await ws.close(code=4000, reason="network lost")
        self.open.clear()


async def kept(page: Page, conv: str) -> dict[str, Any]:
    """What the console keeps in localStorage for one conversation, by kind."""
    got: dict[str, Any] = await page.evaluate(
        """(conv) => Object.fromEntries(Object.keys(localStorage)
             .filter((k) => k.endsWith(":" + conv))
             .map((k) => [k.split(":")[2], localStorage.getItem(k)]))""",
        conv,
    )
    return got


async def stored_texts(page: Page, base: str, conv: str) -> list[str]:
    r = await page.request.get(f"{base}/api/v1/conversations/{conv}")
    assert r.status == 200
    return [e["body"].get("text") for e in (await r.json())["events"] if e["kind"] == "message"]


async def test_drafts_survive_reload_and_tab_close_and_go_when_sent_or_ended(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    visitor, conv = await visitor_starts(hub, "Rita Gomez", "My parcel never came")
    await ann.accept("Rita Gomez")

    # A reply half typed and a note half written, neither sent.
    await ann.box.fill("Half-typed reply about the parcel")
    await page.get_by_role("button", name="Add note").click()
    note_dialog = page.get_by_role("dialog", name="Add an internal note")
    await note_dialog.get_by_role("textbox", name="Note").fill("Courier: DPD, ref 4471")
    await note_dialog.get_by_role("button", name="Cancel").click()
    assert set(await kept(page, conv)) == {"draft", "note"}

    # Reload: both come back.
    await page.reload()
    await expect(page.get_by_role("tab", name="Rita Gomez")).to_be_visible()
    await expect(ann.box).to_have_value("Half-typed reply about the parcel")
    await page.get_by_role("button", name="Add note").click()
    await expect(note_dialog.get_by_role("textbox", name="Note")).to_have_value(
        "Courier: DPD, ref 4471"
    )
    await shots.take(page, "note-draft-restored")
    await note_dialog.get_by_role("button", name="Save note").click()
    await expect(ann.log.get_by_label("Internal note")).to_contain_text("Courier: DPD")
    await expect(page.get_by_role("status").filter(has_text="Note saved.")).to_be_visible()
    assert "note" not in await kept(page, conv)  # saved: the draft is gone
    await page.get_by_role("button", name="Add note").click()
    await expect(note_dialog.get_by_role("textbox", name="Note")).to_have_value("")
    await note_dialog.get_by_role("button", name="Cancel").click()

    # The tab is closed by accident and opened again: the draft is still there.
    context = ann.context
    await page.close()
    page = await context.new_page()
    ann = Console(context, page, server.http)
    await page.goto(f"{server.http}/console")
    await expect(page.get_by_role("tab", name="Rita Gomez")).to_be_visible()
    await expect(ann.box).to_have_value("Half-typed reply about the parcel")
    await shots.take(page, "draft-after-tab-close")

    # Sent: the visitor gets it once, and nothing is kept any more.
    await ann.box.press("Enter")
    await visitor.expect("message", text="Half-typed reply about the parcel")
    await expect(ann.box).to_have_value("")
    await expect(ann.log.locator(".row.pending")).to_have_count(0)
    assert await kept(page, conv) == {}
    await page.reload()
    await expect(page.get_by_role("tab", name="Rita Gomez")).to_be_visible()
    await expect(ann.log).to_contain_text("Half-typed reply about the parcel")
    await expect(ann.box).to_have_value("")

    # The chat ends while a reply is half typed: that draft can never go out, so it goes.
    await ann.box.fill("Something I will never send")
    assert "draft" in await kept(page, conv)
    await visitor.request({"type": "close", "conversation_id": conv})
    await expect(ann.box).to_be_disabled()
    assert await kept(page, conv) == {}
    await page.reload()
    await expect(page.get_by_role("tab", name="Rita Gomez")).to_have_count(0)
    assert "Something I will never send" not in await stored_texts(page, server.http, conv)
    assert ann.errors == []
    await ann.close()


async def test_sign_out_leaves_no_text_behind_and_agents_keep_apart(
    hub: Hub, browser: Browser
) -> None:
    server = await start_hub(hub, agents=("ann", "bob"))
    ann = await Console.open(browser, server.http)
    page = ann.page
    await ann.go_online()
    _, conv = await visitor_starts(hub, "Omar Said", "Question about VAT")
    await ann.accept("Omar Said")
    await ann.box.fill("Private draft of Ann")
    assert "draft" in await kept(page, conv)

    # Another agent signing in on the same browser sees nothing of Ann's.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{server.http}/login")
    leftovers = await page.evaluate("Object.keys(localStorage)")
    assert [k for k in leftovers if k.startswith("console:")] == []
    await ann.sign_in("bob", "correct horse battery")
    await expect(page).to_have_url(f"{server.http}/console")
    await expect(page.get_by_text("Private draft of Ann")).to_have_count(0)
    assert ann.errors == []
    await ann.close()


async def test_message_sent_while_unreachable_arrives_once_after_reload(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page
    gate = SocketGate()
    await gate.install(page)
    await page.reload()  # the console's socket now goes through the gate
    await ann.go_online()
    visitor, conv = await visitor_starts(hub, "Kai Berg", "Is the shop open on Sunday?")
    await ann.accept("Kai Berg")
    await ann.say("Let me check")
    await visitor.expect("message", text="Let me check")

    # The hub becomes unreachable; the agent sends anyway, then reloads the page.
    await gate.cut()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    await ann.say("Yes, from 10 to 4")
    sending = ann.log.locator(".row.pending", has_text="Yes, from 10 to 4")
    await expect(sending).to_contain_text("Sending…")
    await shots.take(page, "unsent-before-reload")
    outbox = (await kept(page, conv))["outbox"]
    assert "Yes, from 10 to 4" in outbox
    await page.reload()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()

    # The hub is back: the kept message goes out by itself, with its client_id, once.
    gate.blocked = False
    got = await visitor.expect("message", text="Yes, from 10 to 4", timeout=20)
    assert got["from"]["role"] == "agent" and got["client_id"] in outbox
    await expect(ann.log.locator(".row.msg", has_text="Yes, from 10 to 4")).to_have_count(1)
    await expect(ann.log.locator(".row.pending")).to_have_count(0)
    await shots.take(page, "resent-after-reload")
    assert "outbox" not in await kept(page, conv)

    # Sent, but the hub's answer (ack and echo) is lost, then the page is reloaded: the replay
    # shows the hub has it, so it is neither re-sent nor shown twice.
    gate.mute()
    await ann.say("Anything else I can do?")
    first = await visitor.expect("message", text="Anything else I can do?")
    await expect(ann.log.locator(".row.pending", has_text="Anything else")).to_be_visible()
    assert "Anything else I can do?" in (await kept(page, conv))["outbox"]
    await page.reload()
    await expect(ann.log.locator(".row.msg", has_text="Anything else I can do?")).to_have_count(1)
    await expect(ann.log.locator(".row.pending")).to_have_count(0)
    # A barrier: one more message from the console. It leaves on the socket that would carry
    # any re-send of the two above, so the hub stores it after them, and the visitor gets a
    # conversation's messages in seq order: once it is here, a second copy would be too.
    await ann.say("Have a nice Sunday")
    await visitor.expect("message", text="Have a nice Sunday")
    await expect(ann.log.locator(".row.pending")).to_have_count(0)

    assert visitor.take("message", text="Yes, from 10 to 4") == []
    again = visitor.take("message", text="Anything else I can do?")
    assert all(m["seq"] == first["seq"] for m in again)
    texts = await stored_texts(page, server.http, conv)
    assert texts.count("Yes, from 10 to 4") == 1
    assert texts.count("Anything else I can do?") == 1
    assert await kept(page, conv) == {}

    # Cut off again, a message waits — and meanwhile the visitor leaves: it can never be
    # delivered, so the console says so instead of "Sending…" forever, and keeps nothing.
    await gate.cut()
    await expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    await ann.say("One more thing")
    await visitor.request({"type": "close", "conversation_id": conv})
    gate.blocked = False
    late = ann.log.locator(".row.msg", has_text="One more thing")
    await expect(late).to_contain_text("Not sent: the chat ended", timeout=20_000)
    await expect(ann.box).to_be_disabled()
    await expect(ann.log).to_contain_text("The visitor ended the chat")
    await expect(page.locator(".toast")).to_have_count(0)
    await shots.take(page, "not-sent-chat-ended")
    assert await kept(page, conv) == {}
    assert "One more thing" not in await stored_texts(page, server.http, conv)
    assert ann.errors == []
    await ann.close()
