"""Admins' API keys: made (the secret once, stored hashed), listed, revoked (401 at once on
every process), audited; every bad input refused with nothing stored."""

from __future__ import annotations

import hashlib

import httpx

from chatserver.web.cross_site import SESSION_COOKIE
from tests.api.conftest import ADMIN, call, make_key, start_hub
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.stores import open_test_store


async def test_create_list_revoke_everywhere_at_once(hub: Hub) -> None:
    one, two = await start_hub(hub, servers=2)
    admin = await hub.login(ADMIN)
    key = await make_key(one, admin, "CRM sync", "read", "write")
    assert key.secret.startswith(f"csk_{key.id}_") and len(key.secret) > 50

    listed = (await call(one, "GET", "/api/v1/admin/api-keys", key=admin)).json()
    assert listed["scopes"] == ["read", "write", "bot"]
    (entry,) = listed["api_keys"]
    assert entry["name"] == "CRM sync" and entry["scopes"] == ["read", "write"]
    assert entry["revoked_at"] is None and entry["last_used_at"] is None
    assert key.secret not in str(listed)  # shown once, never again

    # Stored hashed: the store has the SHA-256 of the key, never the key.
    store = open_test_store(hub.data_dir)
    async with store:
        record = await store.get_api_key(key.id)
    assert record is not None
    assert record.secret_hash == hashlib.sha256(key.secret.encode()).hexdigest()

    for server in (one, two):
        r = await call(server, "GET", "/api/v1/agents", key=key.secret)
        assert r.status_code == 200, r.text
    used = (await call(one, "GET", "/api/v1/admin/api-keys", key=admin)).json()["api_keys"][0]
    assert used["last_used_at"] is not None

    r = await call(one, "POST", f"/api/v1/admin/api-keys/{key.id}/revoke", key=admin)
    revoked_at = r.json()["api_key"]["revoked_at"]
    assert r.status_code == 200 and revoked_at is not None
    for server in (two, one):  # the other process too, with no tick in between
        r = await call(server, "GET", "/api/v1/agents", key=key.secret)
        assert r.status_code == 401
        assert r.json() == {"error": "unauthorized", "message": "unknown or revoked API key"}
    again = await call(two, "POST", f"/api/v1/admin/api-keys/{key.id}/revoke", key=admin)
    assert again.status_code == 200 and again.json()["api_key"]["revoked_at"] == revoked_at

    audit = (await call(one, "GET", "/api/v1/analytics/audit", key=admin)).json()["entries"]
    actions = [(e["action"], e["details"].get("key_id"), e["actor"]) for e in audit]
    assert ("api_key_created", key.id, ADMIN) in actions
    assert [a for a in actions if a[0] == "api_key_revoked"] == [("api_key_revoked", key.id, ADMIN)]


async def test_only_admins_and_only_good_input(hub: Hub) -> None:
    await add_agent(hub.data_dir, "ann", roles=("agent", "supervisor"))
    (server,) = await start_hub(hub)
    admin, ann = await hub.login(ADMIN), await hub.login("ann")
    path = "/api/v1/admin/api-keys"
    body = {"name": "x", "scopes": ["read"]}
    assert (await call(server, "GET", path)).status_code == 401
    assert (await call(server, "POST", path, json=body)).status_code == 401
    r = await call(server, "POST", path, key=ann, json=body)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    key = await make_key(server, admin, "reader", "read")
    r = await call(server, "POST", path, key=key.secret, json=body)  # a key cannot make keys
    assert r.status_code == 401

    cases = [
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "   ", "scopes": ["read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["read"]}, "body.name"),
        ({"name": "x", "scopes": []}, "body.scopes"),
        ({"name": "x", "scopes": ["admin"]}, "body.scopes[0]"),
        ({"name": "x", "scopes": "read"}, "body.scopes"),
        ({"name": "x"}, "body.scopes"),
        ({"name": "x", "scopes": ["read"], "owner": "me"}, "body.owner"),
        ([1, 2], "body"),
    ]
    for payload, field in cases:
        r = await call(server, "POST", path, key=admin, json=payload)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["error"] == "invalid" and r.json()["field"] == field, r.json()
    r = await call(server, "POST", path, key=admin, content=b"{not json")
    assert r.status_code == 422 and r.json()["field"] == "body"
    r = await call(server, "POST", f"{path}/nope/revoke", key=admin)
    assert r.status_code == 404 and r.json() == {
        "error": "not_found",
        "message": "no API key 'nope'",
    }

    # A cross-site request with the session cookie is refused before anything is made.
    async with httpx.AsyncClient(cookies={SESSION_COOKIE: admin}) as http:
        r = await http.post(
            f"{server.http}{path}", json=body, headers={"Origin": "https://evil.example"}
        )
    assert r.status_code == 403

    keys = (await call(server, "GET", path, key=admin)).json()["api_keys"]
    assert [k["name"] for k in keys] == ["reader"]
