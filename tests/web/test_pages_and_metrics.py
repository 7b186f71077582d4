"""Every HTML response carries its security headers (CSP, framing, nosniff) — the demo page and
the analytics report too; the report's charts still draw under its CSP in Chromium; /metrics
answers only this machine unless a token is set; anonymous hellos store nothing and are
limited per address."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.support.peer import Peer
from tests.support.stores import query


def visitors(hub: Hub) -> int:
    count: int = query(hub.data_dir, "SELECT count(*) FROM visitors")[0][0]
    return count


async def test_every_html_page_has_its_security_headers(hub: Hub) -> None:
    await add_agent(hub.data_dir, "root", roles=("admin", "analyst", "supervisor"))
    server = hub.start_server()
    token = await hub.login("root")
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.http) as http:
        pages = ["/login", "/demo", "/widget/frame?site=demo"]
        signed = ["/console", "/dashboard", "/admin/agents", "/admin/topics",
                  "/api/v1/analytics/report"]  # fmt: skip
        for path in pages + signed:
            r = await http.get(path, headers=bearer if path in signed else {})
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html"), path
            csp = r.headers.get("content-security-policy", "")
            assert "default-src 'none'" in csp and "frame-ancestors" in csp, (path, csp)
            assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0], path
            assert r.headers["x-content-type-options"] == "nosniff", path
            if path != "/widget/frame?site=demo":  # the frame is for embedding, by its site
                assert "frame-ancestors 'none'" in csp, path


async def test_the_report_draws_under_its_policy(hub: Hub, browser: Browser) -> None:
    await add_agent(hub.data_dir, "ada", roles=("analyst",))
    server = hub.start_server()
    context = await browser.new_context()
    page = await context.new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    await page.goto(f"{server.http}/login")
    await page.get_by_role("textbox", name="Username").fill("ada")
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).not_to_have_url(f"{server.http}/login")
    await page.goto(f"{server.http}/api/v1/analytics/report")
    drawn = await page.evaluate("typeof Chart !== 'undefined' && !!Chart.getChart('volume')")
    assert drawn and violations == [], violations
    await context.close()


async def test_metrics_answer_this_machine_or_the_token(hub: Hub) -> None:
    server = hub.start_server(CHATSERVER_TRUSTED_PROXIES="127.0.0.1")
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/metrics")).status_code == 200
        # Through a trusted proxy, for a client elsewhere: refused.
        r = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 403 and "CHATSERVER_METRICS_TOKEN" in r.json()["message"]
    server.stop()
    hub.servers.clear()
    server = hub.start_server(CHATSERVER_METRICS_TOKEN="s3cret-metrics")
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/metrics", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer s3cret-metrics"}
        r = await http.get("/metrics", headers=right)
        assert r.status_code == 200 and "chat_connections" in r.text


async def test_anonymous_hellos_store_nothing_and_are_limited_per_address(hub: Hub) -> None:
    server = hub.start_server(CHATSERVER_NEW_VISITORS_PER_MINUTE="5")
    for _ in range(5):
        peer, _ = await hub.visitor()
        await peer.close()
    assert visitors(hub) == 0  # five tokens handed out, nothing stored
    sixth = await Peer(f"{server.ws}/ws/visitor").connect()
    await sixth.send({"type": "hello", "token": None})
    assert await sixth.wait_closed() == 4429
    # Another address is not affected; its visitor is stored with its first conversation.
    other = await Peer(f"{server.ws}/ws/visitor", address="127.0.0.2").connect()
    hub.peers.append(other)
    await other.send({"type": "hello", "token": None})
    await other.expect("welcome")
    assert visitors(hub) == 0
    await other.request({"type": "start", "topic": "general", "language": "en"}, "queued")
    assert visitors(hub) == 1
