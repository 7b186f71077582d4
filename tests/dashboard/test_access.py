"""Who may see the dashboard, and what bad parameters get: a real server, plain HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.chatserver.integration.conftest import Hub
from tests.dashboard.conftest import api, start_hub, visitor_starts

PAGES = ("/dashboard", "/dashboard/conversations", "/dashboard/conversations/{conv}")
APIS = (
    "/api/v1/dashboard/live",
    "/api/v1/dashboard/charts",
    "/api/v1/dashboard/agents",
    "/api/v1/dashboard/conversations",
)


async def test_signed_out_pages_redirect_and_apis_answer_401(hub: Hub) -> None:
    await start_hub(hub)
    _, conv = await visitor_starts(hub, "Sam Carter")
    for path in PAGES:
        r = await api(hub, path.format(conv=conv), username=None)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/login"
    for path in APIS:
        r = await api(hub, path, username=None)
        assert r.status_code == 401, path
        assert r.json()["error"] == "unauthorized"


async def test_a_plain_agent_gets_a_403_page_and_403_json(hub: Hub) -> None:
    await start_hub(hub)
    _, conv = await visitor_starts(hub, "Sam Carter")
    for path in PAGES:
        r = await api(hub, path.format(conv=conv), username="ann")
        assert r.status_code == 403, path
        assert "text/html" in r.headers["content-type"]
        assert "The dashboard is for supervisors" in r.text
        assert "Ann Lee" in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]
    for path in APIS:
        r = await api(hub, path, username="ann")
        assert r.status_code == 403, path
        assert r.json() == {
            "error": "forbidden",
            "message": "the dashboard is for supervisors, analysts and admins",
        }


@pytest.mark.parametrize("username", ["sue", "ada", "root"])
async def test_supervisors_analysts_and_admins_may_read_it(hub: Hub, username: str) -> None:
    await start_hub(hub)
    _, conv = await visitor_starts(hub, "Sam Carter")
    for path in PAGES:
        r = await api(hub, path.format(conv=conv), username=username)
        assert r.status_code == 200, (path, r.text[:300])
        assert "Content-Security-Policy" in r.headers
    for path in APIS:
        r = await api(hub, path, username=username)
        assert r.status_code == 200, (path, r.text)
    live = (await api(hub, "/api/v1/dashboard/live", username=username)).json()
    assert live["totals"]["waiting"] == 1
    assert [w["conversation_id"] for w in live["waiting"]] == [conv]


BAD = [
    ("/api/v1/dashboard/charts?hours=0", "hours=0: must be from 1 to 168"),
    ("/api/v1/dashboard/charts?hours=169", "hours=169: must be from 1 to 168"),
    ("/api/v1/dashboard/charts?hours=abc", "hours='abc': expected a whole number from 1 to 168"),
    ("/api/v1/dashboard/charts?days=91", "days=91: must be from 1 to 90"),
    ("/api/v1/dashboard/charts?days=-3", "days=-3: must be from 1 to 90"),
    ("/api/v1/dashboard/agents?since=yesterday", "since 'yesterday': expected a date"),
    ("/api/v1/dashboard/agents?since=2026-13-01", "since '2026-13-01': expected a date"),
    (
        "/api/v1/dashboard/agents?since=2026-05-02&until=2026-05-01",
        "until (2026-05-01T00:00:00.000Z) must be after since (2026-05-02T00:00:00.000Z)",
    ),
    (
        "/api/v1/dashboard/conversations?topic=plumbing",
        "topic 'plumbing' is not offered; allowed: general, billing, account, technical",
    ),
    (
        "/api/v1/dashboard/conversations?status=lost",
        "status 'lost': expected one of queued, offered, active, closed",
    ),
    ("/api/v1/dashboard/conversations?agent=nobody", "no agent 'nobody'"),
    (
        "/api/v1/dashboard/conversations?cursor=page-2",
        "cursor 'page-2' is not a page cursor of this list; start again from the first page",
    ),
    ("/api/v1/dashboard/conversations?per_page=101", "per_page=101: must be from 1 to 100"),
    ("/api/v1/dashboard/conversations?until=soon", "until 'soon': expected a date"),
]


async def test_bad_parameters_get_a_clear_400(hub: Hub) -> None:
    await start_hub(hub)
    for path, message in BAD:
        r = await api(hub, path)
        assert r.status_code == 400, (path, r.text)
        body = r.json()
        assert body["error"] == "bad_request", path
        assert body["message"].startswith(message), (path, body["message"])


async def test_the_list_page_shows_a_bad_filter_as_an_error_and_a_missing_conversation_404(
    hub: Hub,
) -> None:
    await start_hub(hub)
    r = await api(hub, "/dashboard/conversations?topic=plumbing&since=2026-05-01")
    assert r.status_code == 400
    assert 'role="alert"' in r.text and "topic &#39;plumbing&#39; is not offered" in r.text
    assert 'value="2026-05-01"' in r.text  # the form keeps what was typed
    r = await api(hub, "/dashboard/conversations/does-not-exist")
    assert r.status_code == 404
    assert "No such conversation" in r.text


async def test_the_conversation_api_pages_and_filters(hub: Hub) -> None:
    await start_hub(hub)
    convs = [(await visitor_starts(hub, f"Visitor {i}", topic))[1]
             for i, topic in enumerate(["billing", "account", "billing", "billing", "general"])]  # fmt: skip
    r = await api(hub, "/api/v1/dashboard/conversations?topic=billing&per_page=2")
    body = r.json()
    assert (body["total"], body["per_page"], body["prev_cursor"]) == (3, 2, None)
    # Newest first, a page at a time: the next page is where the cursor says.
    assert [row["conversation_id"] for row in body["rows"]] == [convs[3], convs[2]]
    older = body["next_cursor"]
    r = await api(hub, f"/api/v1/dashboard/conversations?topic=billing&per_page=2&cursor={older}")
    body = r.json()
    assert [row["conversation_id"] for row in body["rows"]] == [convs[0]]
    assert body["next_cursor"] is None and body["total"] == 3
    newer = body["prev_cursor"]
    r = await api(hub, f"/api/v1/dashboard/conversations?topic=billing&per_page=2&cursor={newer}")
    assert [row["conversation_id"] for row in r.json()["rows"]] == [convs[3], convs[2]]
    assert r.json()["prev_cursor"] is None
    r = await api(hub, "/api/v1/dashboard/conversations?status=closed")
    assert r.json()["total"] == 0 and r.json()["rows"] == []
    r = await api(hub, "/api/v1/dashboard/conversations?status=queued&topic=general")
    rows = r.json()["rows"]
    assert [(x["conversation_id"], x["visitor_name"], x["status"]) for x in rows] == [
        (convs[4], "Visitor 4", "queued")
    ]
    # Past the oldest: an empty page, not an error.
    r = await api(hub, f"/api/v1/dashboard/conversations?cursor={older}&topic=general")
    assert r.status_code == 200 and r.json()["rows"] == [] and r.json()["total"] == 1


async def test_http_clients_must_not_cache_the_figures(hub: Hub) -> None:
    await start_hub(hub)
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{hub.server.http}/api/v1/dashboard/live",
            headers={"Authorization": f"Bearer {await hub.login('sue')}"},
        )
    assert r.headers["cache-control"] == "no-store"
