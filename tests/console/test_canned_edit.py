"""Editing canned responses: `PUT /api/v1/canned/{id}` with the rules of adding and deleting
(an agent edits its own, only an admin the shared ones), and the Edit button of the dialog."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.console.conftest import ALL_SKILLS, Console, start_hub, visitor_starts
from tests.support.browser import Shots


class Api:
    """The canned-responses API as one signed-in user calls it (bearer token)."""

    def __init__(self, http: httpx.AsyncClient, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def add(self, **body: Any) -> dict[str, Any]:
        r = await self.http.post(f"{self.base}/api/v1/canned", json=body, headers=self.headers)
        assert r.status_code == 201, r.text
        made: dict[str, Any] = r.json()
        return made

    async def put(self, canned_id: object, body: Any) -> httpx.Response:
        return await self.http.put(
            f"{self.base}/api/v1/canned/{canned_id}", json=body, headers=self.headers
        )

    async def listed(self) -> list[tuple[str, str, bool]]:
        r = await self.http.get(f"{self.base}/api/v1/canned", headers=self.headers)
        return [(c["shortcut"], c["text"], c["shared"]) for c in r.json()["canned"]]


async def test_edit_api_rules_and_bad_input(hub: Hub) -> None:
    await add_agent(hub.data_dir, "ada", skills=ALL_SKILLS, roles=("agent", "admin"))
    server = await start_hub(hub, agents=("ann", "bob"))
    async with httpx.AsyncClient() as http:
        ann = Api(http, server.http, await hub.login("ann"))
        bob = Api(http, server.http, await hub.login("bob"))
        ada = Api(http, server.http, await hub.login("ada"))
        refund = await ann.add(shortcut="refund", text="Refund issued.")
        await ann.add(shortcut="bye", text="Goodbye!")
        bobs = await bob.add(shortcut="refund", text="Bob's refund")
        shared = await ada.add(shortcut="welcome", text="Welcome!", shared=True)
        before = await ann.listed()

        # Good: shortcut normalised like an add, text trimmed; id and created_at stay.
        r = await ann.put(refund["id"], {"shortcut": "/Refunded", "text": "  On its way.  "})
        assert r.status_code == 200, r.text
        assert r.json() == {**refund, "shortcut": "refunded", "text": "On its way."}
        assert r.headers["cache-control"] == "no-store"
        # Keeping the shortcut, and saying `shared` as it is, are fine.
        r = await ann.put(refund["id"], {"shortcut": "refunded", "text": "v2", "shared": False})
        assert r.status_code == 200 and r.json()["text"] == "v2"
        after_good = await ann.listed()

        bad: list[tuple[Api, object, Any, int, str]] = [
            (ann, refund["id"], {"shortcut": "bye", "text": "x"}, 409, "/bye exists already"),
            (ann, refund["id"], {"shortcut": "has space", "text": "x"}, 400, "shortcut:"),
            (ann, refund["id"], {"shortcut": "x" * 33, "text": "x"}, 400, "shortcut:"),
            (ann, refund["id"], {"shortcut": "ok", "text": "   "}, 400, "text: must not be empty"),
            (ann, refund["id"], {"shortcut": "ok", "text": "x" * 4001}, 400, "at most 4000"),
            (ann, refund["id"], {"shortcut": "ok"}, 400, "text"),
            (ann, refund["id"], {"shortcut": 5, "text": "x"}, 400, "shortcut:"),
            (ann, refund["id"], ["not", "an", "object"], 400, "JSON object"),
            (ann, refund["id"], {"shortcut": "ok", "text": "x", "shared": "no"}, 400, "shared:"),
            (ann, refund["id"], {"shortcut": "ok", "text": "x", "shared": True}, 400, "cannot"),
            (ann, bobs["id"], {"shortcut": "ok", "text": "x"}, 404, "no canned response"),
            (ann, shared["id"], {"shortcut": "ok", "text": "x"}, 403, "only an admin"),
            (ann, 999999, {"shortcut": "ok", "text": "x"}, 404, "no canned response"),
            (ann, "abc", {"shortcut": "ok", "text": "x"}, 404, "no canned response"),
            (ann, "9" * 30, {"shortcut": "ok", "text": "x"}, 404, "no canned response"),
            (ann, "%C2%B2", {"shortcut": "ok", "text": "x"}, 404, "no canned response"),
        ]
        for who, canned_id, body, status, words in bad:
            r = await who.put(canned_id, body)
            assert r.status_code == status, (body, r.text)
            assert words in r.json()["message"], (body, r.json())
        # Not JSON at all.
        r = await http.put(
            f"{server.http}/api/v1/canned/{refund['id']}", content=b"{", headers=ann.headers
        )
        assert r.status_code == 400
        # Not signed in.
        r = await http.put(
            f"{server.http}/api/v1/canned/{refund['id']}", json={"shortcut": "a", "text": "b"}
        )
        assert r.status_code == 401
        assert await ann.listed() == after_good != before
        assert ("refund", "Bob's refund", False) in await bob.listed()

        # The admin edits the shared one (it stays shared), and may take an agent's shortcut.
        r = await ada.put(shared["id"], {"shortcut": "bye", "text": "Welcome aboard!"})
        assert r.status_code == 200 and r.json()["shared"] is True
        assert ("bye", "Welcome aboard!", True) in await ann.listed()
        r = await ada.put(shared["id"], {"shortcut": "bye", "text": "x", "shared": False})
        assert r.status_code == 400


@pytest.mark.browser
async def test_edit_in_the_dialog_and_use_it(hub: Hub, browser: Browser, shots: Shots) -> None:
    server = await start_hub(hub)
    ann = await Console.open(browser, server.http)
    page = ann.page
    await page.get_by_role("button", name="Canned responses").click()
    dialog = page.get_by_role("dialog", name="Canned responses")
    for shortcut, text in (
        ("refund", "Refund issued."),
        ("hello", "Hello! How can I help?"),
    ):
        await dialog.get_by_role("textbox", name="Shortcut").fill(shortcut)
        await dialog.get_by_role("textbox", name="Response text").fill(text)
        await dialog.get_by_role("button", name="Add response").click()
        await expect(dialog).to_contain_text(f"/{shortcut}")

    # Edit: the form fills in, and says it edits.
    await dialog.get_by_role("button", name="Edit /refund").click()
    await expect(dialog.get_by_role("heading", name="Edit /refund")).to_be_visible()
    await expect(dialog.get_by_role("textbox", name="Shortcut")).to_have_value("refund")
    await expect(dialog.get_by_role("textbox", name="Response text")).to_have_value(
        "Refund issued."
    )
    await dialog.get_by_role("textbox", name="Response text").fill(
        "Your refund is on its way: 3–5 working days."
    )
    await shots.take(page, "editing")
    await dialog.get_by_role("button", name="Save changes").click()
    await expect(dialog).to_contain_text("Your refund is on its way")
    await expect(dialog).not_to_contain_text("Refund issued.")
    await expect(dialog.get_by_role("heading", name="New response")).to_be_visible()
    await expect(dialog.get_by_role("button", name="Add response")).to_be_visible()

    # A taken shortcut: a clear error, and nothing changes.
    await dialog.get_by_role("button", name="Edit /hello").click()
    await dialog.get_by_role("textbox", name="Shortcut").fill("refund")
    await dialog.get_by_role("button", name="Save changes").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("/refund exists already")
    await shots.take(page, "edit-conflict")
    await dialog.get_by_role("button", name="Cancel edit").click()
    await expect(dialog.get_by_role("alert")).to_be_hidden()
    await expect(dialog.get_by_role("heading", name="New response")).to_be_visible()
    await expect(dialog.get_by_role("textbox", name="Shortcut")).to_have_value("")
    await expect(dialog).to_contain_text("/hello")
    await expect(dialog).to_contain_text("Hello! How can I help?")
    await dialog.get_by_role("button", name="Close").click()

    # The picker uses the edited text.
    await ann.go_online()
    visitor, _ = await visitor_starts(hub, "Olga Berg", "Refund?")
    await ann.accept("Olga Berg")
    await ann.box.fill("/ref")
    await ann.box.press("Enter")
    await expect(ann.box).to_have_value("Your refund is on its way: 3–5 working days.")
    await ann.box.press("Enter")
    await visitor.expect("message", text="Your refund is on its way: 3–5 working days.")
    assert ann.errors == []
    await ann.close()
