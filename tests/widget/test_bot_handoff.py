"""Bot first, then a person, as the visitor sees it: the bot named as an automated assistant, the
"Talk to a person" button, the wait after it, then the person; after a reload the replay
rebuilds the same state."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from chatserver.web.assets import WIDGET_DIR
from tests.admin.conftest import ADMIN
from tests.api.conftest import Key, call, make_key
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.browser import Shots
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.webhooks.conftest import FAST, endpoint
from tests.widget.conftest import (
    Widget,
    accept_next,
    agent_online,
    agent_says,
    new_page,
    page_errors,
    start_hub,
)

pytestmark = pytest.mark.browser

HANDOFF_LINE = "Connecting you with a person. Please wait a moment."


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


@dataclass
class Bot:
    server: ServerProcess
    id: str
    key: Key

    async def says(self, conv: str, text: str) -> None:
        """What a bot does on its webhook: answer through the API with its key."""
        r = await call(
            self.server,
            "POST",
            f"/api/v1/conversations/{conv}/messages",
            key=self.key.secret,
            json={"text": text},
        )
        assert r.status_code == 201, r.text


async def start_with_bot(hub: Hub, receiver: Receiver) -> Bot:
    """An admin and Ann (every skill), then the hub; the admin makes the bot "Max" for billing:
    its webhook endpoint (the test's receiver), its `bot` key, the bot. Its answer timeout is
    long: here only the visitor and the test hand over."""
    await add_agent(hub.data_dir, ADMIN, display_name="Rosa Admin", roles=("admin", "supervisor"))
    server = await start_hub(hub, agents=("ann",), **FAST)
    admin = await hub.login(ADMIN)
    webhook = await endpoint(server, admin, receiver.url, ["message.created"])
    key = await make_key(server, admin, "Max", "bot")
    r = await call(
        server,
        "POST",
        "/api/v1/admin/bots",
        key=admin,
        json={
            "name": "Max",
            "endpoint_id": webhook["id"],
            "key_id": key.id,
            "topics": ["billing"],
            "answer_timeout_s": 3600,
        },
    )
    assert r.status_code == 201, r.text
    return Bot(server, r.json()["bot"]["id"], key)


async def heard(receiver: Receiver, text: str, timeout: float = 20.0) -> None:
    """Until the bot's endpoint was sent the visitor's message (deadline-bounded)."""
    got = await receiver.until(
        lambda got: any(r.json["data"]["message"]["text"] == text for r in got), timeout
    )
    assert got is not None, "the bot never heard it"


class Tap:
    """The widget's WebSocket through the test: what the widget sends is recorded, and what the
    hub says can be held back for a while (to see the widget between a click and the answer)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.held: list[str | bytes] | None = None
        self.widget_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        hub_side = ws.connect_to_server()
        self.widget_side = ws

        def out(message: str | bytes) -> None:
            self.sent.append(json.loads(message))
            hub_side.send(message)

        def into(message: str | bytes) -> None:
            if self.held is not None and ws is self.widget_side:
                self.held.append(message)
            else:
                ws.send(message)

        ws.on_message(out)
        hub_side.on_message(into)

    def hold(self) -> None:
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        assert self.widget_side is not None
        for message in held:
            self.widget_side.send(message)

    async def sent_one(self, type: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while not (frames := [f for f in self.sent if f.get("type") == type]):
            assert asyncio.get_running_loop().time() < deadline, f"no {type} sent"
            await asyncio.sleep(0.02)
        (frame,) = frames
        return frame


async def conversation_id(widget: Widget) -> str:
    frame = await widget.frame()
    conv: str = await frame.evaluate(
        "() => JSON.parse(localStorage.getItem('chathub:v1:demo')).conv"
    )
    return conv


async def test_bot_then_a_person(
    hub: Hub, receiver: Receiver, browser: Browser, shots: Shots
) -> None:
    bot = await start_with_bot(hub, receiver)
    ann = await agent_online(hub)
    context, page = await new_page(browser)
    tap = Tap()
    await context.route_web_socket(re.compile(r"/ws/visitor$"), tap.route)
    widget = Widget(page)
    await page.goto(f"{bot.server.http}/demo")
    await widget.open()
    await widget.start(topic="billing")

    # The bot takes it: named as an automated assistant, with the way to a person.
    head = widget.ui.locator(".head")
    person = widget.ui.get_by_role("button", name="Talk to a person")
    await expect(head.get_by_role("heading", name="Max")).to_be_visible()
    await expect(head).to_contain_text("Automated assistant")
    await expect(widget.log).to_contain_text("Max (automated assistant) joined the chat")
    await expect(person).to_be_enabled()
    conv = await conversation_id(widget)
    await widget.say("Where is my order 1042?")
    await heard(receiver, "Where is my order 1042?")
    await bot.says(conv, "Order 1042 left our warehouse yesterday.")
    answer = widget.row("Order 1042 left our warehouse")
    await expect(answer.locator(".sender")).to_have_text("Max")
    await shots.take(page, "bot")

    # A reload mid-chat: the replay brings the bot back, and the button with it.
    await page.reload()
    await widget.open()
    await expect(head.get_by_role("heading", name="Max")).to_be_visible()
    await expect(head).to_contain_text("Automated assistant")
    await expect(widget.log.locator(".row.msg .bubble")).to_have_text(
        ["Where is my order 1042?", "Order 1042 left our warehouse yesterday."]
    )
    await expect(person).to_be_enabled()
    # By keyboard: the button comes right before the message box, with the focus ring.
    await widget.ui.get_by_role("textbox", name="Message").press("Shift+Tab")
    await expect(person).to_be_focused()
    assert await person.evaluate("b => b.matches(':focus-visible')")
    await expect(person).to_have_css("outline-style", "solid")
    assert not ann.take("offer")  # the bot holds it: not offered to the agents
    await shots.take(page, "bot-after-reload")

    # The click: disabled until the hub answers, then the wait for a person.
    tap.hold()
    await person.press("Enter")
    pending = widget.ui.get_by_role("button", name="Connecting you…")
    await expect(pending).to_be_disabled()
    await expect(person).to_have_count(0)
    frame = await tap.sent_one("handoff")
    assert frame == {"type": "handoff", "conversation_id": conv, "ref": frame["ref"]}
    await shots.take(page, "handoff-pending")
    tap.release()
    await expect(widget.log.locator(".row.system")).to_have_text(re.compile(HANDOFF_LINE))
    await expect(person).to_be_hidden()
    await expect(pending).to_be_hidden()
    await expect(head.get_by_role("heading", name="Support")).to_be_visible()
    await expect(head).to_contain_text("Waiting for an agent")
    await expect(widget.ui.locator(".queue")).to_be_visible()
    await expect(widget.ui.get_by_role("textbox", name="Message")).to_be_visible()
    await shots.take(page, "waiting-after-handoff")

    # Ann gets it, with the bot's part of the history, and answers.
    assert await accept_next(ann) == conv
    await agent_says(ann, conv, "Hi, Ann here. I'll look into order 1042.")
    await expect(head.get_by_role("heading", name="Ann Lee")).to_be_visible()
    await expect(head).to_contain_text("Online now")
    await expect(widget.row("Ann here")).to_be_visible()
    await expect(person).to_be_hidden()
    await shots.take(page, "person")

    # Reloaded with the person: the replay goes bot, hand-over, person, and the button never
    # shows on the way (the page records every time it would have).
    await context.add_init_script(
        """addEventListener('DOMContentLoaded', () => {
            const b = document.querySelector('.handoff-btn');
            if (!b) return;
            window.handoffShown = 0;
            new MutationObserver(() => { if (!b.hidden) window.handoffShown += 1; })
                .observe(b, {attributes: true, attributeFilter: ['hidden']});
        })"""
    )
    await page.reload()
    await widget.open()
    await expect(head.get_by_role("heading", name="Ann Lee")).to_be_visible()
    await expect(widget.log.locator(".row.msg .bubble")).to_have_text(
        [
            "Where is my order 1042?",
            "Order 1042 left our warehouse yesterday.",
            HANDOFF_LINE,
            "Hi, Ann here. I'll look into order 1042.",
        ]
    )
    await expect(widget.log).to_contain_text("Ann Lee joined the chat")
    await expect(person).to_be_hidden()
    assert await (await widget.frame()).evaluate("window.handoffShown") == 0
    assert page_errors(page) == []
    await context.close()


async def test_bot_hands_over_in_arabic(
    hub: Hub, receiver: Receiver, browser: Browser, shots: Shots
) -> None:
    """Right to left with the bot; the bot's own hand-over (API) ends its part the same way."""
    ar = json.loads((WIDGET_DIR / "locales" / "ar.json").read_text())
    bot = await start_with_bot(hub, receiver)
    context, page = await new_page(browser, locale="ar-EG")
    widget = Widget(page)
    await page.goto(f"{bot.server.http}/demo")
    await page.get_by_role("button", name=ar["launcher_open"]).click()
    await widget.ui.get_by_role("textbox", name=ar["name"]).fill("سارة")
    await widget.ui.get_by_role("combobox", name=ar["topic"]).select_option("billing")
    await widget.ui.get_by_role("button", name=ar["start"]).click()
    head = widget.ui.locator(".head")
    person = widget.ui.get_by_role("button", name=ar["handoff"])
    await expect(head).to_contain_text(ar["status_bot"])
    await expect(person).to_be_visible()
    conv = await conversation_id(widget)
    await bot.says(conv, "مرحبًا! أنا Max، كيف يمكنني مساعدتك؟")
    theirs = widget.row("كيف يمكنني مساعدتك")
    await expect(theirs).to_be_visible()
    # The bot's bubble on the right, the button centred under the transcript.
    bubble = await theirs.locator(".bubble").bounding_box()
    button = await person.bounding_box()
    panel = await page.locator('iframe[title="Chat"]').bounding_box()
    assert bubble and button and panel
    middle = panel["x"] + panel["width"] / 2
    assert bubble["x"] + bubble["width"] > panel["x"] + panel["width"] * 0.9
    assert abs(button["x"] + button["width"] / 2 - middle) < 4
    await shots.take(page, "arabic-bot")

    r = await call(
        bot.server,
        "POST",
        f"/api/v1/conversations/{conv}/handoff",
        key=bot.key.secret,
        json={"summary": "Asks about an order."},
    )
    assert r.status_code == 201, r.text
    assert r.json()["queue"]["agents_online"] == 0
    # No agent is online: the hand-over line, then the leave-a-message form, as for any visitor.
    await expect(widget.log.locator(".row.system")).to_have_text(re.compile(HANDOFF_LINE))
    await expect(person).to_be_hidden()
    await expect(head).to_contain_text(ar["status_away"])
    await expect(widget.ui.get_by_role("heading", name=ar["offline_title"])).to_be_visible()
    await shots.take(page, "arabic-after-handoff")
    assert page_errors(page) == []
    await context.close()


async def test_session_states(hub: Hub, browser: Browser) -> None:
    """The session alone, in Chromium, fed frames the hub could send in any order it may: a
    refused hand-over is sent again, a conflict only hides the button, an `ack`, the hand-over
    line or a `queue` frame means waiting; a replay ending with a person has no button."""
    server = await start_hub(hub, agents=())
    context, page = await new_page(browser)
    await page.goto(f"{server.http}/widget/frame?site=demo")
    result = await page.evaluate(
        """async () => {
        const { Session } = await import('/widget/app/session.js');
        const session = () => {
            const s = new Session({site: 'unit', url: 'ws://127.0.0.1:9/none', onChange() {}, onEvent() {}});
            s.sent = [];
            s.connection.send = (f) => (s.sent.push(f), true);
            Object.defineProperty(s, 'ready', {get: () => true});
            s.receive({type: 'queued', conversation_id: 'c1', position: 0, eta_s: null});
            s.receive({type: 'assigned', conversation_id: 'c1', seq: 1, ts: 'T1',
                       agent: {display_name: 'Max', bot: true}});
            s.receive({type: 'message', conversation_id: 'c1', seq: 2, ts: 'T2', client_id: null,
                       from: {role: 'agent', name: 'Max'}, text: 'Hi, I am Max.'});
            return s;
        };
        const view = (s) => [s.phase, s.agent, s.bot, s.pendingHandoff];
        const line = {type: 'message', conversation_id: 'c1', seq: 3, ts: 'T3', client_id: null,
                      from: {role: 'system', name: null}, text: 'Connecting you with a person.'};
        const out = {};

        const a = session();
        out.bot = view(a);
        a.handoff();
        out.pending = view(a);
        a.receive({type: 'error', code: 'unavailable', ref: a.sent[0].ref});
        const deadline = Date.now() + 5000;   // sent again after the back-off
        while (a.sent.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        out.resent = a.sent.map((f) => f.type);
        a.receive({type: 'error', code: 'conflict', ref: a.sent[1].ref});
        out.conflict = view(a);

        const b = session();
        b.handoff();
        b.receive({type: 'ack', ref: b.sent[0].ref, conversation_id: 'c1', seq: 3, ts: 'T3'});
        out.acked = view(b);
        b.receive(line);
        b.receive({type: 'queue', conversation_id: 'c1', position: 2, eta_s: 90});
        out.queued = [...view(b), b.queue];

        const c = session();
        c.receive(line);
        out.line = view(c);
        c.receive({type: 'assigned', conversation_id: 'c1', seq: 4, ts: 'T4', agent: {display_name: 'Ann Lee'}});
        out.person = view(c);
        c.handoff();
        out.noButtonNoFrame = c.sent.length;

        const d = session();
        d.receive({type: 'queue', conversation_id: 'c1', position: 1, eta_s: null});
        out.queueFrame = view(d);
        return out;
    }"""
    )
    assert result == {
        "bot": ["chat", "Max", True, False],
        "pending": ["chat", "Max", True, True],
        "resent": ["handoff", "handoff"],
        "conflict": ["chat", "Max", False, False],
        "acked": ["waiting", None, False, False],
        "queued": ["waiting", None, False, False, {"position": 2, "eta_s": 90}],
        "line": ["waiting", None, False, False],
        "person": ["chat", "Ann Lee", False, False],
        "noButtonNoFrame": 0,
        "queueFrame": ["waiting", None, False, False],
    }
    await context.close()
