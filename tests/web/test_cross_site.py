"""Cross-site writes are refused (chatserver.web.cross_site): a signed-in admin's browser on
another origin of the same site cannot create an agent, by form or by fetch; the rules, request
by request; /ws/agent from another origin. Against a real hub process, the browser one in
Chromium from a second origin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.support.netcut import HostPage
from tests.support.peer import Peer
from tests.support.server import ServerProcess
from tests.support.stores import query

NEW_ADMIN = {
    "username": "mallory",
    "password": "Passw0rd-csrf",
    "roles": ["admin"],
    "skills": {"general": 1},
    "capacity": 1,
}


def usernames(hub: Hub) -> set[str]:
    return {name for (name,) in query(hub.data_dir, "SELECT username FROM agents")}


@pytest.fixture
async def server(hub: Hub) -> AsyncIterator[ServerProcess]:
    await add_agent(hub.data_dir, "root", roles=("admin",))
    yield hub.start_server()


async def signed_in(server: ServerProcess) -> tuple[str, str]:
    """(token, the session cookie's value) of the admin."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        r = await http.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r.json()["token"], r.cookies["chat_session"]


async def test_the_rules_request_by_request(hub: Hub, server: ServerProcess) -> None:
    token, cookie = await signed_in(server)
    own = server.http
    evil = "http://127.0.0.1:9201"
    body = httpx.Request("POST", "/", json=NEW_ADMIN).content
    as_json = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, str], int]] = [
        ("cookie, another origin", {"Cookie": f"chat_session={cookie}", "Origin": evil, **as_json}, 403),
        ("cookie, Origin null", {"Cookie": f"chat_session={cookie}", "Origin": "null", **as_json}, 403),
        ("cookie, no Origin", {"Cookie": f"chat_session={cookie}", **as_json}, 403),
        ("cookie, same-site fetch", {"Cookie": f"chat_session={cookie}", "Sec-Fetch-Site": "same-site", **as_json}, 403),
        ("cookie, own origin, text/plain", {"Cookie": f"chat_session={cookie}", "Origin": own, "Content-Type": "text/plain"}, 403),
        ("cookie, own origin, a form", {"Cookie": f"chat_session={cookie}", "Origin": own, "Content-Type": "application/x-www-form-urlencoded"}, 403),
        ("bearer, another origin", {"Authorization": f"Bearer {token}", "Origin": evil, **as_json}, 403),
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=server.http) as http:
        for name, headers, status in cases:
            r = await http.post("/api/v1/admin/agents", content=body, headers=headers)
            assert r.status_code == status, (name, r.text)
            assert r.json()["error"] == "forbidden", name
            assert r.json()["message"].startswith("cross-site request refused: "), name
        assert "mallory" not in usernames(hub)
        # Logging in from another origin (login CSRF) is refused too; reading is not.
        r = await http.post(
            "/api/v1/auth/login",
            json={"username": "root", "password": PASSWORD},
            headers={"Origin": evil},
        )
        assert r.status_code == 403
        r = await http.get(
            "/api/v1/admin/agents", headers={"Cookie": f"chat_session={cookie}", "Origin": evil}
        )
        assert r.status_code == 200
        # What the console itself sends passes: cookie, own Origin, JSON.
        for i, headers in enumerate(
            [
                {"Cookie": f"chat_session={cookie}", "Origin": own, **as_json},
                {"Cookie": f"chat_session={cookie}", "Sec-Fetch-Site": "same-origin", **as_json},
                {"Authorization": f"Bearer {token}", **as_json},  # a script: no cookie, no Origin
            ]
        ):
            payload = {**NEW_ADMIN, "username": f"ok{i}"}
            r = await http.post("/api/v1/admin/agents", json=payload, headers=headers)
            assert r.status_code == 201, (headers, r.text)
        # A body-less write with the cookie needs the Origin too.
        r = await http.post("/api/v1/auth/logout", headers={"Cookie": f"chat_session={cookie}"})
        assert r.status_code == 403
    assert {"ok0", "ok1", "ok2"} <= usernames(hub)


ATTACK = """<!doctype html><title>Win a prize</title>
<form id=f method=POST action="{hub}/api/v1/admin/agents" enctype="text/plain">
<input name='{{"username":"mallory","password":"Passw0rd-csrf","roles":["admin"],"skills":{{"general":1}},"capacity":1,"x":"' value='"}}'>
</form>
<script>
fetch("{hub}/api/v1/admin/agents", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify({{username: "mallory2", password: "Passw0rd-csrf", roles: ["admin"],
    skills: {{general: 1}}, capacity: 1}})}})
  .finally(() => document.getElementById("f").submit());
</script>"""


async def test_a_page_of_another_origin_cannot_create_an_admin(
    hub: Hub, server: ServerProcess, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    # The admin signs in on the hub, as in real life.
    await page.goto(f"{server.http}/login")
    await page.get_by_role("textbox", name="Username").fill("root")
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.http}/dashboard")
    # Then opens a page on another port of the same host: the same site, another origin.
    attacker = await HostPage(ATTACK.format(hub=server.http)).start()
    try:
        async with page.expect_response(f"{server.http}/api/v1/admin/agents") as answer:
            await page.goto(attacker.origin)
        assert (await answer.value).status == 403
        # The form then lands the tab on the hub's refusal.
        await page.wait_for_url(f"{server.http}/api/v1/admin/agents")
        await page.wait_for_load_state()
        assert "cross-site request refused" in await page.content()
    finally:
        await attacker.close()
        await context.close()
    assert not usernames(hub) & {"mallory", "mallory2"}


async def test_an_agent_socket_from_another_origin_is_refused(
    hub: Hub, server: ServerProcess
) -> None:
    token, _ = await signed_in(server)
    for origin, welcome in [
        ("http://127.0.0.1:9201", False),
        (server.http, True),
        (None, True),  # an app, not a browser
    ]:
        peer = await Peer(f"{server.ws}/ws/agent", origin=origin).connect()
        await peer.send({"type": "hello", "token": token})
        if welcome:
            await peer.expect("welcome")
            await peer.close()
        else:
            assert await peer.wait_closed() == 4403
