"""Signing in and out of the console, and what a session may open."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.console.conftest import ALL_SKILLS, Console, start_hub, visitor_starts
from tests.support.browser import Shots

pytestmark = pytest.mark.browser


async def test_sign_in_errors_are_neutral_and_sign_out_revokes(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub)
    base = server.http
    context = await browser.new_context(viewport={"width": 1360, "height": 820})
    page = await context.new_page()

    # Without a session the console sends you to the sign-in page.
    await page.goto(f"{base}/console")
    await expect(page).to_have_url(f"{base}/login")
    await shots.take(page, "login")

    console = Console(context, page, base)
    await console.sign_in("ann", "not the password")
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text("Wrong username or password.")
    await shots.take(page, "wrong-password")
    # An unknown user gets the very same words: nothing tells which of the two was wrong.
    await console.sign_in("nobody", "not the password")
    await expect(alert).to_have_text("Wrong username or password.")
    await expect(page).to_have_url(f"{base}/login")

    await console.sign_in("ann", "correct horse battery")
    await expect(page).to_have_url(f"{base}/console")
    await expect(page.get_by_role("button", name="Go online")).to_be_enabled()
    await expect(page.get_by_text("Away", exact=True)).to_be_visible()
    await shots.take(page, "signed-in")

    session = await page.request.get(f"{base}/api/v1/session")
    assert session.status == 200
    token = (await session.json())["token"]
    assert token not in page.url

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{base}/login")
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    await page.goto(f"{base}/console")
    await expect(page).to_have_url(f"{base}/login")
    assert console.errors == []
    await context.close()


async def test_an_agent_cannot_open_another_agents_chat(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    server = await start_hub(hub, agents=("ann", "bob"))
    bob, _ = await hub.agent("bob")
    _, conv = await visitor_starts(hub, "Dana Fox", "Hello?")
    offer = await bob.expect("offer", timeout=10)
    await bob.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")

    ann = await Console.open(browser, server.http, "ann")
    r = await ann.page.request.get(f"{server.http}/api/v1/conversations/{conv}")
    assert r.status == 403
    r = await ann.page.request.get(f"{server.http}/api/v1/conversations/{conv}/context")
    assert r.status == 403

    await ann.page.goto(f"{server.http}/console#{conv}")
    await expect(ann.page.get_by_role("alert")).to_contain_text("You cannot open this conversation")
    await expect(ann.page.get_by_text("Hello?")).to_have_count(0)
    await shots.take(ann.page, "forbidden")
    await ann.close()


async def test_sign_in_goes_to_the_dashboard_or_the_console_by_role(
    hub: Hub, browser: Browser, shots: Shots
) -> None:
    for username, roles in (
        ("sue", ("supervisor",)),
        ("adm", ("admin",)),
        ("ada", ("agent", "admin")),
        ("sam", ("agent", "supervisor")),
        ("ana", ("analyst",)),
    ):
        await add_agent(hub.data_dir, username, skills=ALL_SKILLS, roles=roles)
    server = await start_hub(hub)
    base = server.http
    expected = {
        "sue": "/dashboard",
        "adm": "/dashboard",
        "ada": "/console",
        "sam": "/console",
        "ana": "/console",
        "ann": "/console",
    }
    for username, home in expected.items():
        context = await browser.new_context(viewport={"width": 1360, "height": 820})
        page = await context.new_page()
        console = Console(context, page, base)
        await console.sign_in(username, PASSWORD)
        await expect(page).to_have_url(f"{base}{home}")
        # Already signed in: the sign-in page sends you to the same place.
        r = await page.request.get(f"{base}/login", max_redirects=0)
        assert (r.status, r.headers["location"]) == (303, home), username
        # The console stays open to all of them; supervisors and admins get a Dashboard link.
        if home == "/dashboard":
            await page.goto(f"{base}/console")
        link = page.get_by_role("link", name="Dashboard")
        if username in ("ann", "ana"):
            await expect(page.get_by_role("button", name="Go online")).to_be_enabled()
            await expect(link).to_have_count(0)
        else:
            await expect(link).to_have_attribute("href", "/dashboard")
            await expect(link).to_be_visible()
            if username == "ada":
                await shots.take(page, "dashboard-link")
                # On a small laptop screen the whole top bar still fits.
                await page.set_viewport_size({"width": 1024, "height": 700})
                await page.get_by_role("button", name="Go online").click()
                await expect(page.get_by_role("button", name="Go away")).to_be_visible()
                sign_out = await page.get_by_role("button", name="Sign out").bounding_box()
                assert sign_out is not None and sign_out["x"] + sign_out["width"] <= 1024
                await shots.take(page, "narrow-topbar")
        assert console.errors == [], username
        await context.close()
