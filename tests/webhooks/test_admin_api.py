"""The webhook admin API's bad paths: every refused input answers which field and why and
changes nothing; only admins; no cross-site writes; the endpoint limit; and a URL that resolves
to a private address is never called."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.admin.conftest import ADMIN, api
from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.support.receiver import Receiver
from tests.support.stores import open_test_store
from tests.webhooks.conftest import ALL, endpoint, start

BASE = "/api/v1/admin/webhooks"


async def test_refused_inputs_name_the_field_and_change_nothing(
    hub: Hub, receiver: Receiver
) -> None:
    await start(hub)
    server = hub.server
    token = await hub.login(ADMIN)
    good = {"url": receiver.url, "events": ["message.created"]}
    cases = [
        ({**good, "url": "ftp://x.example/"}, "url", "url: must start with https:// (or http://)"),
        (
            {**good, "url": None},
            "url",
            "url: give the address to send to, e.g. https://example.com/hooks",
        ),
        ({**good, "url": "http://10.0.0.7/hook"}, "url", None),
        ({**good, "url": "http://169.254.169.254/latest/meta-data"}, "url", None),
        ({**good, "events": []}, "events", "events: choose at least one event type"),
        ({**good, "events": "message.created"}, "events", "events: choose at least one event type"),
        ({**good, "events": ["message.deleted"]}, "events", None),
        (
            {**good, "description": "x" * 201},
            "description",
            "description: text of at most 200 characters",
        ),
        ({**good, "secret": "short"}, "secret", None),
        ({**good, "secret": " padded-secret-value "}, "secret", None),
        ({**good, "enabled": "yes"}, "enabled", "enabled: true or false"),
    ]
    for body, field, message in cases:
        r = await api(server, "POST", BASE, token=token, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == field, (body, r.text)
        if message is not None:
            assert r.json()["message"] == message
    async with httpx.AsyncClient() as http:
        for raw in (b"{not json", b"[1]"):
            r = await http.post(
                f"{server.http}{BASE}", content=raw, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert (await api(server, "GET", BASE, token=token)).json()["webhooks"] == []

    hook = await endpoint(
        server, token, receiver.url, ["message.created"], secret="a-secret-of-my-own"
    )
    assert hook["secret"] == "a-secret-of-my-own"
    one = f"{BASE}/{hook['id']}"
    for body, field in [
        ({"events": []}, "events"),
        ({"url": "gopher://x/"}, "url"),
        ({"rotate_secret": "please"}, "rotate_secret"),
        ({"owner": "me"}, "owner"),
    ]:
        r = await api(server, "PATCH", one, token=token, json=body)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    after = (await api(server, "GET", one, token=token)).json()["webhook"]
    assert after == {
        **after,
        "url": receiver.url,
        "events": ["message.created"],
        "secret": "a-secret-of-my-own",
    }
    rotated = (await api(server, "PATCH", one, token=token, json={"rotate_secret": True})).json()[
        "webhook"
    ]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != "a-secret-of-my-own"
    for method, path in [
        ("GET", f"{BASE}/wh_nope"),
        ("PATCH", f"{BASE}/wh_nope"),
        ("DELETE", f"{BASE}/wh_nope"),
        ("GET", f"{one}/deliveries/12345"),
        ("GET", f"{one}/deliveries/abc"),
        ("POST", f"{one}/deliveries/12345/redeliver"),
    ]:
        r = await api(server, method, path, token=token, json={} if method == "PATCH" else None)
        assert r.status_code == 404, (method, path, r.text)
    for query in ("limit=0", "limit=201", "limit=x", "before=-1"):
        r = await api(server, "GET", f"{one}/deliveries?{query}", token=token)
        assert r.status_code == 400, (query, r.text)
    store = open_test_store(hub.data_dir)
    async with store:
        actions = [e.action for e in await store.audit_log(limit=10)]
    assert actions[:2] == ["webhook_changed", "webhook_created"]  # the rotation, the creation
    assert actions.count("webhook_created") == 1 and actions.count("webhook_changed") == 1


async def test_only_admins_and_only_same_origin_writes(hub: Hub, receiver: Receiver) -> None:
    await start(hub)
    await add_agent(hub.data_dir, "sue", roles=("supervisor",))
    server = hub.server
    admin = await hub.login(ADMIN)
    sue = await hub.login("sue")
    hook = await endpoint(server, admin, receiver.url)
    for method, path in [("GET", BASE), ("POST", BASE), ("GET", f"{BASE}/{hook['id']}"),
                         ("DELETE", f"{BASE}/{hook['id']}")]:  # fmt: skip
        body = {"url": receiver.url, "events": ALL} if method == "POST" else None
        assert (await api(server, method, path, token=sue, json=body)).status_code == 403
        assert (await api(server, method, path, json=body)).status_code == 401
    async with httpx.AsyncClient() as http:
        login = await http.post(
            f"{server.http}/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD}
        )
        assert login.status_code == 200 and http.cookies
        r = await http.post(
            f"{server.http}{BASE}",
            json={"url": receiver.url, "events": ALL},
            headers={"Origin": "http://evil.example", "Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 403 and "cross-site" in r.json()["message"]
        # The session cookie, from a foreign page.
        r = await http.delete(
            f"{server.http}{BASE}/{hook['id']}", headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 403
    assert len((await api(server, "GET", BASE, token=admin)).json()["webhooks"]) == 1


async def test_a_hub_keeps_at_most_twenty_endpoints(hub: Hub, receiver: Receiver) -> None:
    await start(hub)
    token = await hub.login(ADMIN)
    for n in range(20):
        await endpoint(hub.server, token, f"{receiver.url}/{n}", ["conversation.rated"])
    r = await api(hub.server, "POST", BASE, token=token, json={"url": receiver.url, "events": ALL})
    assert r.status_code == 409 and "at most 20" in r.json()["message"]
    assert len((await api(hub.server, "GET", BASE, token=token)).json()["webhooks"]) == 20


async def test_a_name_resolving_to_a_private_address_is_never_called(
    hub: Hub, receiver: Receiver
) -> None:
    # No network is allowed here: `localhost` is saved (a name), then refused at each attempt.
    await start(hub, CHATSERVER_WEBHOOK_ALLOW_NETWORKS="")
    token = await hub.login(ADMIN)
    hook = await endpoint(
        hub.server, token, f"http://localhost:{receiver.port}/hooks", ["conversation.created"]
    )
    visitor, _ = await hub.visitor()
    await visitor.request({"type": "start", "topic": "general", "language": "en"}, expect="queued")
    deadline = time.monotonic() + 10
    log: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        log = (await api(hub.server, "GET", f"{BASE}/{hook['id']}/deliveries", token=token)).json()[
            "deliveries"
        ]
        if log and log[0]["attempts"]:
            break
        await asyncio.sleep(0.1)
    assert log and log[0]["attempts"], log
    last = log[0]["last"]
    assert isinstance(last, dict) and last["status_code"] is None
    assert (
        "localhost resolves to" in last["error"]
        and "CHATSERVER_WEBHOOK_ALLOW_NETWORKS" in last["error"]
    )
    assert receiver.received == []
