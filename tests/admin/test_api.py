"""The admin API's bad paths that no form can produce: malformed bodies, wrong types, no-op
changes, the last topic. Each gets a clear error and changes nothing."""

from __future__ import annotations

import httpx

from tests.admin.conftest import ADMIN, api, start_hub, widget_config
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.stores import open_test_store


async def test_malformed_bodies_and_wrong_types(hub: Hub) -> None:
    await add_agent(hub.data_dir, "ann")
    (server,) = await start_hub(hub)
    token = await hub.login(ADMIN)
    agents = (await api(server, "GET", "/api/v1/admin/agents", token=token)).json()["agents"]
    ann = next(a for a in agents if a["username"] == "ann")
    topics_before = (await api(server, "GET", "/api/v1/admin/topics", token=token)).json()

    async with httpx.AsyncClient() as http:
        for method, path in [
            ("POST", "/api/v1/admin/agents"),
            ("PATCH", f"/api/v1/admin/agents/{ann['id']}"),
            ("POST", "/api/v1/admin/topics"),
            ("PUT", "/api/v1/admin/languages"),
        ]:
            for raw in (b"{not json", b"[1, 2]", b'"text"'):
                r = await http.request(
                    method,
                    f"{server.http}{path}",
                    content=raw,
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 400, (path, raw, r.text)
                assert r.json() == {"error": "bad_request", "message": "expected a JSON object"}

    cases = [
        ("PUT", "/api/v1/admin/languages", {"languages": "en"}, "languages",
         'languages: expected a list like ["en", "es"]'),
        ("PUT", "/api/v1/admin/languages", {"languages": ["en", 5]}, "languages",
         "languages[1]: must be a name of letters, digits, '_', '.' or '-', got 5"),
        ("POST", "/api/v1/admin/topics", {"name": 5}, "name",
         "name: give the topic a name (letters, digits, '_', '.', '-')"),
        ("POST", "/api/v1/admin/topics", {"name": "  "}, "name",
         "name: give the topic a name (letters, digits, '_', '.', '-')"),
        ("POST", "/api/v1/admin/topics", {"name": "gifts", "relax": {"after_s": 5}}, "relax",
         "topics.gifts.relax: must be a list of steps like {after_s = 60, language_level = 1}"),
        ("POST", "/api/v1/admin/topics", {"name": "gifts", "priority": 1001}, "priority",
         "topics.gifts.priority: must be an integer from -1000 to 1000, got 1001"),
        ("POST", "/api/v1/admin/agents", {"username": "zed", "roles": "agent",
                                          "skills": {"en": 1}, "capacity": 1}, "roles",
         "roles must be a list"),
        ("POST", "/api/v1/admin/agents", {"username": "zed", "roles": ["agent"],
                                          "skills": ["en"], "capacity": 1}, "skills",
         'skills must be an object like {"billing": 5, "en": 3}'),
        ("POST", "/api/v1/admin/agents", {"username": "zed", "roles": ["agent"],
                                          "skills": {"en": 1}, "capacity": 1,
                                          "password": 12345678}, "password",
         "password must be text"),
        ("POST", f"/api/v1/admin/agents/{ann['id']}/password", {"password": "x" * 257},
         "password", "password must be at most 256 characters"),
    ]  # fmt: skip
    for method, path, body, field, message in cases:
        r = await api(server, method, path, token=token, json=body)
        assert r.status_code == 400, (path, body, r.text)
        assert (r.json()["field"], r.json()["message"]) == (field, message)

    for path in ("disable", "enable", "password"):
        r = await api(server, "POST", f"/api/v1/admin/agents/nobody/{path}", token=token, json={})
        assert r.status_code == 404 and r.json()["message"] == "no agent 'nobody'"
    r = await api(server, "DELETE", "/api/v1/admin/topics/nope", token=token)
    assert r.status_code == 404 and r.json()["message"] == "no topic 'nope'"

    assert (await api(server, "GET", "/api/v1/admin/topics", token=token)).json() == topics_before
    after = (await api(server, "GET", "/api/v1/admin/agents", token=token)).json()["agents"]
    assert [a["username"] for a in after] == ["ann", ADMIN]
    assert (await hub.login("ann")).strip()  # the refused password reset changed nothing


async def test_no_op_changes_keep_sessions(hub: Hub) -> None:
    await add_agent(hub.data_dir, "ann", roles=("agent", "supervisor"))
    (server,) = await start_hub(hub)
    token = await hub.login(ADMIN)
    ann_token = await hub.login("ann")
    agents = (await api(server, "GET", "/api/v1/admin/agents", token=token)).json()["agents"]
    ann = next(a for a in agents if a["username"] == "ann")
    same = await api(
        server,
        "PATCH",
        f"/api/v1/admin/agents/{ann['id']}",
        token=token,
        json={"roles": ["supervisor", "agent"], "capacity": ann["capacity"]},
    )
    assert same.status_code == 200
    assert same.json()["changed"] == [] and same.json()["revoked"] is False
    enabled = await api(server, "POST", f"/api/v1/admin/agents/{ann['id']}/enable", token=token)
    assert enabled.status_code == 200 and enabled.json()["revoked"] is False
    # A role added does not end the session either; one taken away does.
    added = await api(
        server,
        "PATCH",
        f"/api/v1/admin/agents/{ann['id']}",
        token=token,
        json={"roles": ["agent", "supervisor", "analyst"]},
    )
    assert added.json()["changed"] == ["roles"] and added.json()["revoked"] is False
    assert (await api(server, "GET", "/api/v1/me", token=ann_token)).status_code == 200
    removed = await api(
        server, "PATCH", f"/api/v1/admin/agents/{ann['id']}", token=token, json={"roles": ["agent"]}
    )
    assert removed.json()["revoked"] is True
    assert (await api(server, "GET", "/api/v1/me", token=ann_token)).status_code == 401


async def test_the_last_topic_cannot_go(hub: Hub) -> None:
    (server,) = await start_hub(hub)
    token = await hub.login(ADMIN)
    for name in ("general", "billing", "account"):
        r = await api(server, "DELETE", f"/api/v1/admin/topics/{name}", token=token)
        assert r.status_code == 200, r.text
    last = await api(server, "DELETE", "/api/v1/admin/topics/technical", token=token)
    assert last.status_code == 400
    assert last.json()["message"] == "topics: must hold at least one [topics.<name>] table"
    assert (await widget_config(server))["topics"] == ["technical"]
    listing = (await api(server, "GET", "/api/v1/admin/topics", token=token)).json()
    assert listing["version"] == 3


async def test_a_start_for_a_topic_or_language_removed_meanwhile_is_refused(hub: Hub) -> None:
    """A visitor's socket opened before an admin removed a topic or a language still sends a
    `start` for it: a clear error, and nothing is stored (no conversation stuck in a queue)."""
    (server,) = await start_hub(hub)
    token = await hub.login(ADMIN)
    visitor, _ = await hub.visitor(server=server)
    r = await api(server, "DELETE", "/api/v1/admin/topics/account", token=token)
    assert r.status_code == 200, r.text
    r = await api(server, "PUT", "/api/v1/admin/languages", token=token,
                  json={"languages": ["en", "es", "ar"]})  # fmt: skip
    assert r.status_code == 200, r.text

    for topic, language, message in [
        ("account", "en", "topic 'account' is not offered; allowed: general, billing, technical"),
        ("general", "zh", "language 'zh' is not offered; allowed: en, es, ar"),
    ]:
        error = await visitor.request(
            {"type": "start", "topic": topic, "language": language, "text": "hello"},
            expect="error",
        )
        assert (error["code"], error["message"]) == ("bad_frame", message)
    # Still the visitor can start a chat on what is offered now.
    await visitor.request({"type": "start", "topic": "general", "language": "en"}, expect="queued")
    store = open_test_store(hub.data_dir)
    await store.open()
    try:
        stored = await store.list_conversations()
    finally:
        await store.close()
    assert [(c.topic, c.language) for c in stored] == [("general", "en")]
