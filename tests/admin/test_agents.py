"""Admin › Agents: create, edit, disable, reset a password — and what each does to sign-in,
sessions and routing — plus every refusal shown next to its field."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Request, expect

from tests.admin.conftest import ADMIN, AdminPage, api, routing_file, start_hub
from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.chatserver.integration.helpers import open_chat
from tests.console.conftest import Console, visitor_starts
from tests.support.browser import Shots

pytestmark = pytest.mark.browser


def role_box(admin: AdminPage, role: str):  # type: ignore[no-untyped-def]
    return admin.dialog.get_by_role("checkbox", name=re.compile(f"^{role}$", re.I))


async def test_created_agent_signs_in_and_gets_offers_for_its_topic(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    (server,) = await start_hub(hub)
    admin = await AdminPage.open(browser, server.http)
    await admin.agents()
    await expect(admin.row("@root")).to_contain_text("Rosa Admin (you)")
    await shots.take(admin.page, "agents-list")

    await admin.button("New agent").click()
    await expect(admin.dialog).to_be_visible()
    await admin.field("Username").fill("nina")
    await admin.field("Display name").fill("Nina Okafor")
    await admin.field("Capacity").fill("2")
    await admin.dialog.get_by_role("combobox", name="billing level").select_option("4")
    await admin.dialog.get_by_role("combobox", name="en level").select_option("5")
    await admin.dialog.get_by_role("combobox", name="es level").select_option("2")
    await expect(role_box(admin, "agent")).to_be_checked()  # the default role
    await shots.take(admin.page, "new-agent-filled")
    await admin.button("Create agent").click()

    secret = admin.page.get_by_role("status", name="New password")
    await expect(secret).to_be_visible()
    await expect(secret).to_contain_text("Password for nina")
    password = (await secret.locator("code").inner_text()).strip()
    assert len(password) >= 12
    row = admin.row("@nina")
    await expect(row).to_contain_text("Nina Okafor")
    await expect(row).to_contain_text("billing4")
    await expect(row).to_contain_text("0 / 2")
    await expect(row).to_contain_text("offline")
    await shots.take(admin.page, "agent-created-password-shown")
    await admin.button("Done").click()
    await expect(secret).to_be_hidden()

    # The new agent signs in to the console with the password shown once, and gets work.
    console = await Console.open(browser, server.http, "nina", password)
    await console.go_online()
    await expect(admin.row("@nina")).to_contain_text("online", timeout=15_000)  # page refresh
    _, conv = await visitor_starts(hub, "Sam Carter", topic="billing")
    await expect(console.offer("Sam Carter")).to_be_visible()
    await shots.take(console.page, "new-agent-gets-offer")
    # Not for a topic it has no skill in.
    technical, _ = await hub.visitor()
    tom = await technical.request(
        {"type": "start", "topic": "technical", "language": "en", "name": "Tom"}, expect="queued"
    )
    # Waiting, not offered: an offer is made while start is answered (position 0).
    assert tom["position"] == 1
    await expect(console.offer("Tom")).to_have_count(0)
    assert conv
    await console.close()
    await admin.close()


async def test_capacity_and_skills_take_effect_for_a_connected_agent(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(
        hub.data_dir, "ann", skills={"billing": 3, "en": 5}, capacity=1, display_name="Ann Lee"
    )
    (server,) = await start_hub(hub)
    agent, _ = await hub.agent("ann")
    await open_chat(hub, agent, topic="billing")  # ann is full (1 of 1)
    waiting, _ = await hub.visitor()
    second = await waiting.request(
        {"type": "start", "topic": "billing", "language": "en"}, expect="queued"
    )
    tech, _ = await hub.visitor()
    third = await tech.request(
        {"type": "start", "topic": "technical", "language": "en"}, expect="queued"
    )

    admin = await AdminPage.open(browser, server.http)
    await admin.agents()
    await expect(admin.row("@ann")).to_contain_text("1 / 1")
    await admin.button("Edit ann").click()
    await expect(admin.dialog.get_by_role("heading", name="Edit ann")).to_be_visible()
    await expect(admin.field("Capacity")).to_have_value("1")
    await admin.field("Capacity").fill("2")
    await shots.take(admin.page, "edit-capacity")
    await admin.button("Save changes").click()
    await expect(admin.dialog).to_be_hidden()
    # At once, without reconnecting: the router's agent changed and the queue was matched.
    offer = await agent.expect("offer", timeout=5)
    assert offer["conversation"]["conversation_id"] == second["conversation_id"]
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await admin.page.reload()
    await expect(admin.row("@ann")).to_contain_text("2 / 2")

    await admin.button("Edit ann").click()
    await admin.field("Capacity").fill("3")
    await admin.dialog.get_by_role("combobox", name="technical level").select_option("2")
    await admin.button("Save changes").click()
    await expect(admin.dialog).to_be_hidden()
    offer = await agent.expect("offer", timeout=5)
    assert offer["conversation"]["conversation_id"] == third["conversation_id"]
    await expect(admin.row("@ann")).to_contain_text("technical2")
    await shots.take(admin.page, "skills-edited")
    # Still signed in: a change of skills or capacity does not end the session.
    assert not agent.closed
    await admin.close()


async def test_disable_ends_sessions_takes_offline_and_requeues(
    hub: Hub, browser: Browser, shots: Shots, tmp_path: Path
) -> None:
    await add_agent(hub.data_dir, "ann", skills={"billing": 3, "en": 5}, display_name="Ann Lee")
    await add_agent(hub.data_dir, "bob", skills={"billing": 3, "en": 5}, display_name="Bob Ray")
    toml = routing_file(tmp_path, grace_s=1)
    (server,) = await start_hub(hub, CHATSERVER_ROUTING_CONFIG=str(toml))
    token = await hub.login("ann")
    agent, _ = await hub.agent("ann")
    visitor, _, conv = await open_chat(hub, agent, topic="billing")

    admin = await AdminPage.open(browser, server.http)
    await admin.agents()
    await expect(admin.row("@ann")).to_contain_text("online")
    await admin.button("Disable ann").click()
    await expect(admin.row("@ann")).to_contain_text("disabled")
    await expect(admin.button("Enable ann")).to_be_visible()
    await shots.take(admin.page, "agent-disabled")

    assert await agent.wait_closed(5) == 4401
    assert (await api(server, "GET", "/api/v1/me", token=token)).status_code == 401
    login = await api(
        server, "POST", "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert login.status_code == 401
    # Offline in the router; after the grace period its chat goes to another agent.
    bob, _ = await hub.agent("bob")
    offer = await bob.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    assert not visitor.closed

    await admin.button("Enable ann").click()
    await expect(admin.row("@ann")).not_to_contain_text("disabled")
    assert (await hub.login("ann")).strip()
    await admin.close()


async def test_reset_password_revokes_the_old_one(hub: Hub, browser: Browser, shots: Shots) -> None:
    await add_agent(hub.data_dir, "ann", display_name="Ann Lee")
    (server,) = await start_hub(hub)
    old_token = await hub.login("ann")
    agent, _ = await hub.agent("ann")

    admin = await AdminPage.open(browser, server.http)
    await admin.agents()
    await admin.button("Reset password of ann").click()
    await expect(admin.dialog.get_by_role("heading", name="Reset password of ann")).to_be_visible()
    # A typed password must meet the policy; the refusal shows under the field.
    await admin.dialog.get_by_label("New password").fill("short")
    await admin.dialog.get_by_role("button", name="Reset password").click()
    await expect(admin.dialog.get_by_text("password must be at least 8 characters")).to_be_visible()
    await shots.take(admin.page, "reset-password-refused")
    assert (await api(server, "GET", "/api/v1/me", token=old_token)).status_code == 200

    await admin.dialog.get_by_label("New password").fill("")
    await admin.dialog.get_by_role("button", name="Reset password").click()
    secret = admin.page.get_by_role("status", name="New password")
    await expect(secret).to_contain_text("New password for ann")
    new_password = (await secret.locator("code").inner_text()).strip()
    await shots.take(admin.page, "reset-password-shown")

    assert await agent.wait_closed(5) == 4401
    assert (await api(server, "GET", "/api/v1/me", token=old_token)).status_code == 401
    old = await api(
        server, "POST", "/api/v1/auth/login", json={"username": "ann", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await api(
        server, "POST", "/api/v1/auth/login", json={"username": "ann", "password": new_password}
    )
    assert new.status_code == 200

    # Your own: your sessions end, but the new password stays on screen until you have read it.
    await admin.button("Done").click()
    await admin.button("Reset password of root").click()
    # With the session gone, any request of the page's (a reload of the list) would take it
    # to sign-in: the page makes none after the reset.
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(f"{request.method} {urlsplit(request.url).path}")

    admin.page.on("request", record)
    await admin.dialog.get_by_role("button", name="Reset password").click()
    await expect(secret).to_contain_text("Your new password: your sessions ended")
    mine = (await secret.locator("code").inner_text()).strip()
    # A barrier: a task of the page's after the one that showed the password (the one that
    # would have sent such a request); the browser reports a request before answering that.
    await admin.page.evaluate("() => new Promise((done) => setTimeout(done))")
    admin.page.remove_listener("request", record)
    assert len(requests) == 1 and re.fullmatch(
        r"POST /api/v1/admin/agents/.+/password", requests[0]
    ), requests
    await expect(secret).to_be_visible()
    await expect(admin.page).to_have_url(f"{server.http}/admin/agents")
    await shots.take(admin.page, "own-password-reset")
    again = await api(
        server, "POST", "/api/v1/auth/login", json={"username": ADMIN, "password": mine}
    )
    assert again.status_code == 200
    await admin.page.reload()
    await expect(admin.page).to_have_url(f"{server.http}/login")
    await admin.close()


async def test_every_refusal_is_shown_next_to_its_field_and_changes_nothing(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    await add_agent(hub.data_dir, "ann", display_name="Ann Lee")
    (server,) = await start_hub(hub)
    token = await hub.login(ADMIN)
    before = (await api(server, "GET", "/api/v1/admin/agents", token=token)).json()["agents"]

    admin = await AdminPage.open(browser, server.http)
    await admin.agents()
    await admin.button("New agent").click()
    await admin.field("Username").fill("ANN")  # usernames ignore case
    await admin.dialog.get_by_label("Password").fill("short")
    await admin.field("Capacity").fill("0")
    await role_box(admin, "agent").uncheck()
    await admin.button("Create agent").click()
    errors = {
        "Username": "username 'ANN' is taken",
        "Password": "password must be at least 8 characters",
        "Capacity": "capacity must be 1..50",
    }
    for label, message in errors.items():
        box = admin.dialog.get_by_label(label, exact=True)
        await expect(box).to_have_attribute("aria-invalid", "true")
        hint = admin.dialog.locator(f"#{await box.get_attribute('aria-describedby')}".split()[0])
        await expect(hint).to_have_text(message)
    roles = admin.dialog.get_by_role("group", name="Roles")
    await expect(roles).to_contain_text(
        "give at least one role (agent, supervisor, analyst, admin)"
    )
    skills = admin.dialog.get_by_role("group", name=re.compile("^Skills"))
    await expect(skills).to_contain_text("give at least one skill with a level 1..5")
    await shots.take(admin.page, "create-refused")

    await admin.field("Username").fill("zed zed")
    await admin.field("Capacity").fill("lots")
    await admin.button("Create agent").click()
    await expect(admin.dialog).to_contain_text("username must be 1..64 characters without spaces")
    await expect(admin.dialog).to_contain_text("capacity must be a whole number 1..50")
    await admin.dialog.get_by_role("button", name="Cancel").first.click()

    # An admin cannot demote or disable themselves.
    await admin.button("Edit root").click()
    await role_box(admin, "admin").uncheck()
    await admin.button("Save changes").click()
    await expect(roles).to_contain_text("you cannot take away your own admin role")
    await shots.take(admin.page, "self-demotion-refused")
    await admin.dialog.get_by_role("button", name="Cancel").first.click()
    await expect(admin.button("Disable root")).to_be_disabled()

    # What the form cannot send, the API refuses with the field named.
    me = next(a for a in before if a["username"] == ADMIN)
    ann = next(a for a in before if a["username"] == "ann")
    cases = [
        ("POST", f"/api/v1/admin/agents/{me['id']}/disable", {}, 409, "disabled"),
        ("PATCH", f"/api/v1/admin/agents/{ann['id']}", {"skills": {"billing": 7}}, 400, "skills"),
        ("PATCH", f"/api/v1/admin/agents/{ann['id']}", {"skills": {"cooking": 2}}, 400, "skills"),
        ("PATCH", f"/api/v1/admin/agents/{ann['id']}", {"capacity": 51}, 400, "capacity"),
        ("PATCH", f"/api/v1/admin/agents/{ann['id']}", {"roles": ["boss"]}, 400, "roles"),
        ("PATCH", f"/api/v1/admin/agents/{ann['id']}", {"roles": []}, 400, "roles"),
        ("PATCH", f"/api/v1/admin/agents/{ann['id']}", {"username": "x"}, 400, "username"),
        ("PATCH", "/api/v1/admin/agents/nobody", {"capacity": 2}, 404, None),
        (
            "POST",
            "/api/v1/admin/agents",
            {"username": "new", "roles": ["agent"], "skills": {"en": 1}, "capacity": True},
            400,
            "capacity",
        ),
    ]
    for method, path, body, status, field in cases:
        r = await api(server, method, path, token=token, json=body)
        assert r.status_code == status, (path, body, r.text)
        if field:
            assert r.json()["field"] == field, r.json()
    unknown = await api(
        server,
        "PATCH",
        f"/api/v1/admin/agents/{ann['id']}",
        token=token,
        json={"skills": {"cooking": 2}},
    )
    assert "'cooking' is not a configured topic or language" in unknown.json()["message"]
    after = (await api(server, "GET", "/api/v1/admin/agents", token=token)).json()["agents"]
    long_name = await api(
        server,
        "POST",
        "/api/v1/admin/agents",
        token=token,
        json={
            "username": "x" * 64,
            "display_name": "Maximiliana " * 8,
            "roles": ["agent", "supervisor", "analyst"],
            "skills": {"general": 1, "billing": 2, "account": 3, "technical": 4, "en": 5, "es": 1},
            "capacity": 50,
        },
    )
    assert long_name.status_code == 201, long_name.text
    assert long_name.json()["agent"]["display_name"] == ("Maximiliana " * 8).strip()
    await admin.page.reload()
    await expect(admin.row("@" + "x" * 64)).to_be_visible()
    overflow = await admin.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the agents table is wider than the page"
    await shots.take(admin.page, "long-names")
    assert [
        (a["username"], a["skills"], a["capacity"], a["roles"], a["disabled"]) for a in after
    ] == [(a["username"], a["skills"], a["capacity"], a["roles"], a["disabled"]) for a in before]
    await admin.close()


@pytest.mark.parametrize("roles", [("agent",), ("supervisor",), ("analyst", "supervisor")])
async def test_only_admins_get_in(
    hub: Hub, browser: Browser, shots: Shots, roles: tuple[str, ...]
) -> None:
    await add_agent(hub.data_dir, "sue", roles=roles, display_name="Sue Park")
    (server,) = await start_hub(hub)
    page = await AdminPage.open(browser, server.http, "sue")
    for path in ("/admin/agents", "/admin/topics"):
        response = await page.page.goto(f"{server.http}{path}")
        assert response is not None and response.status == 403
        await expect(page.page.get_by_role("heading", name="Admins only")).to_be_visible()
    await shots.take(page.page, "forbidden")
    token = await hub.login("sue")
    calls = [
        ("GET", "/api/v1/admin/agents", None),
        ("POST", "/api/v1/admin/agents", {"username": "x"}),
        ("PATCH", "/api/v1/admin/agents/x", {"capacity": 2}),
        ("POST", "/api/v1/admin/agents/x/disable", {}),
        ("POST", "/api/v1/admin/agents/x/password", {}),
        ("GET", "/api/v1/admin/topics", None),
        ("POST", "/api/v1/admin/topics", {"name": "x"}),
        ("PUT", "/api/v1/admin/topics/billing", {}),
        ("DELETE", "/api/v1/admin/topics/billing", None),
        ("PUT", "/api/v1/admin/languages", {"languages": ["en"]}),
    ]
    for method, path, body in calls:
        r = await api(server, method, path, token=token, json=body)
        assert r.status_code == 403, (method, path, r.text)
        signed_out = await api(server, method, path, json=body)
        assert signed_out.status_code == 401, (method, path, signed_out.text)
    await page.close()


async def test_signed_out_pages_redirect_to_sign_in(hub: Hub, browser: Browser) -> None:
    (server,) = await start_hub(hub)
    context = await browser.new_context()
    page = await context.new_page()
    for path in ("/admin/agents", "/admin/topics"):
        await page.goto(f"{server.http}{path}")
        await expect(page).to_have_url(f"{server.http}/login")
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await context.close()
