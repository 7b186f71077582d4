"""The per-key rate (CHATSERVER_API_KEY_RATE_PER_MINUTE), counted in Redis across every hub
process: the call over it is answered 429 with Retry-After and changes nothing; another key
is not affected."""

from __future__ import annotations

from tests.api.conftest import ADMIN, call, make_key, start_chat, start_hub
from tests.chatserver.integration.conftest import Hub


async def test_a_key_over_its_rate_gets_429_and_changes_nothing(hub: Hub) -> None:
    one, two = await start_hub(hub, servers=2, CHATSERVER_API_KEY_RATE_PER_MINUTE="5")
    admin = await hub.login(ADMIN)
    busy = await make_key(one, admin, "Busy", "read", "write")
    calm = await make_key(one, admin, "Calm", "read")
    visitor, conv = await start_chat(hub)
    path = f"/api/v1/conversations/{conv}/messages"

    for n, server in enumerate([one, two, one, two, one]):  # five, on both processes
        r = await call(server, "POST", path, key=busy.secret, json={"text": f"m{n}"})
        assert r.status_code == 201, (n, r.text)
    r = await call(two, "POST", path, key=busy.secret, json={"text": "one too many"})
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "rate_limited" and "5 calls in a minute" in r.json()["message"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert (await call(one, "GET", "/api/v1/agents", key=busy.secret)).status_code == 429

    r = await call(one, "GET", f"/api/v1/conversations/{conv}", key=calm.secret)
    assert r.status_code == 200
    texts = [e["body"].get("text") for e in r.json()["events"] if e["kind"] == "message"]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    await visitor.expect("message", conversation_id=conv, text="m4")
    assert visitor.take("message", text="one too many") == []
