"""Integrations at work through the REST API v1: reading conversations and agents, and every
change going through the chat core — the visitor sees an API message in real time, a retried
POST stores once, scopes are enforced, and each refusal changes nothing."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ADMIN, call, make_key, start_chat, start_hub
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import open_chat


async def events_of(server: Any, key: str, conv: str) -> list[dict[str, Any]]:
    r = await call(server, "GET", f"/api/v1/conversations/{conv}", key=key)
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


async def test_messages_reach_the_visitor_live_and_retries_store_once(hub: Hub) -> None:
    ann_id = await add_agent(hub.data_dir, "ann", display_name="Ann Lee")
    (server,) = await start_hub(hub)
    admin = await hub.login(ADMIN)
    crm = await make_key(server, admin, "Acme CRM", "read", "write")
    bot = await make_key(server, admin, "Helper bot", "bot")
    visitor, conv = await start_chat(hub, text="Where is my parcel?")
    path = f"/api/v1/conversations/{conv}/messages"

    r = await call(server, "POST", path, key=crm.secret, json={"text": "Hi!", "client_id": "c-1"})
    assert r.status_code == 201, r.text
    event = r.json()["event"]
    assert event["client_id"] == "c-1" and event["body"] == {"text": "Hi!"}
    assert event["from"] == {"role": "agent", "id": f"key:{crm.id}", "name": "Acme CRM"}
    live = await visitor.expect("message", conversation_id=conv, seq=event["seq"])
    assert live["text"] == "Hi!" and live["from"]["name"] == "Acme CRM"

    retry = await call(
        server, "POST", path, key=crm.secret, json={"text": "Hi!", "client_id": "c-1"}
    )
    assert retry.status_code == 200 and retry.json()["event"] == event
    # Another key's client ids are its own: the same one is a new message.
    r = await call(
        server, "POST", path, key=bot.secret, json={"text": "Bot here", "client_id": "c-1"}
    )
    assert r.status_code == 201
    assert r.json()["event"]["from"] == {
        "role": "agent",
        "id": f"key:{bot.id}",
        "name": "Helper bot",
    }
    await visitor.expect("message", conversation_id=conv, text="Bot here")

    as_ann = {"text": "Ann here", "as_agent": ann_id}
    r = await call(server, "POST", path, key=crm.secret, json=as_ann)
    assert r.status_code == 201 and r.json()["event"]["from"]["name"] == "Ann Lee"
    assert (await visitor.expect("message", conversation_id=conv, text="Ann here"))["from"][
        "name"
    ] == "Ann Lee"
    r = await call(server, "POST", path, key=bot.secret, json=as_ann)
    assert r.status_code == 403 and "write" in r.json()["message"]
    r = await call(server, "POST", path, key=crm.secret, json={"text": "x", "as_agent": "nobody"})
    assert r.status_code == 404

    texts = [
        e["body"].get("text")
        for e in await events_of(server, crm.secret, conv)
        if e["kind"] == "message"
    ]
    assert texts == ["Where is my parcel?", "Hi!", "Bot here", "Ann here"]
    # The retry was not sent again: "Ann here", stored after it, came and "Hi!" did not.
    assert visitor.take("message", text="Hi!") == []


async def test_scopes_and_bad_input_change_nothing(hub: Hub) -> None:
    (server,) = await start_hub(hub)
    admin = await hub.login(ADMIN)
    reader = await make_key(server, admin, "Reader", "read")
    writer = await make_key(server, admin, "Writer", "write")
    bot = await make_key(server, admin, "Bot", "bot")
    _, conv = await start_chat(hub)
    before = await events_of(server, reader.secret, conv)
    base = f"/api/v1/conversations/{conv}"

    writes = [
        ("messages", {"text": "x"}),
        ("notes", {"text": "x"}),
        ("tags", {"add": ["vip"]}),
        ("transfer", {"to_topic": "billing"}),
        ("close", None),
    ]
    for action, body in writes:
        r = await call(server, "POST", f"{base}/{action}", json=body)
        assert r.status_code == 401, (action, r.text)
        r = await call(server, "POST", f"{base}/{action}", key="csk_0000_forged", json=body)
        assert r.status_code == 401
        r = await call(server, "POST", f"{base}/{action}", key=reader.secret, json=body)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", (action, r.text)
    for action, body in writes[2:]:
        r = await call(server, "POST", f"{base}/{action}", key=bot.secret, json=body)
        assert r.status_code == 403, (action, r.text)
    for path in ("/api/v1/conversations", base, "/api/v1/agents"):
        assert (await call(server, "GET", path, key=writer.secret)).status_code == 403
        assert (await call(server, "GET", path)).status_code == 401

    bad = [
        ("messages", {"text": ""}, "body.text"),
        ("messages", {"text": "   "}, "body.text"),
        ("messages", {"text": "x" * 4001}, "body.text"),
        ("messages", {"text": 5}, "body.text"),
        ("messages", {}, "body.text"),
        ("messages", {"text": "x", "client_id": "c" * 65}, "body.client_id"),
        ("messages", {"text": "x", "extra": 1}, "body.extra"),
        ("messages", {"text": "a\x00b"}, "body.text"),  # PostgreSQL keeps no U+0000
        ("notes", {"text": "\x00"}, "body.text"),
        ("notes", {"text": ""}, "body.text"),
        ("tags", {}, "body.add"),
        ("tags", {"add": [""]}, "body.add[0]"),
        ("tags", {"add": ["t"] * 21}, "body.add"),
        ("tags", {"add": ["x" * 65]}, "body.add[0]"),
        ("transfer", {}, "body.to_agent"),
        ("transfer", {"to_topic": "billing", "to_agent": "a"}, "body.to_agent"),
        ("transfer", {"to_topic": "nope"}, None),
    ]
    for action, body, field in bad:
        r = await call(server, "POST", f"{base}/{action}", key=writer.secret, json=body)
        assert r.status_code in (409, 422), (action, body, r.text)
        if field is not None:
            assert r.status_code == 422 and r.json()["field"] == field, (action, body, r.json())
    r = await call(server, "POST", f"{base}/messages", key=writer.secret, content=b"{nope")
    assert r.status_code == 422 and r.json()["field"] == "body"
    r = await call(
        server, "POST", "/api/v1/conversations/nope/messages", key=writer.secret, json={"text": "x"}
    )
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    # Only active chats transfer; this one waits in the queue.
    r = await call(
        server, "POST", f"{base}/transfer", key=writer.secret, json={"to_topic": "billing"}
    )
    assert r.status_code == 409 and r.json()["error"] == "conflict"

    assert await events_of(server, reader.secret, conv) == before


async def test_notes_tags_transfer_close_through_the_core(hub: Hub) -> None:
    await add_agent(hub.data_dir, "ann")
    bob_id = await add_agent(hub.data_dir, "bob")
    (server,) = await start_hub(hub)
    admin = await hub.login(ADMIN)
    key = await make_key(server, admin, "Ops", "read", "write")
    ann, _ = await hub.agent("ann")
    visitor, _, conv = await open_chat(hub, ann)
    base = f"/api/v1/conversations/{conv}"

    r = await call(server, "POST", f"{base}/notes", key=key.secret, json={"text": "VIP customer"})
    assert r.status_code == 201
    note_seq = r.json()["event"]["seq"]
    await ann.expect("note", conversation_id=conv, seq=note_seq)  # agents see it live
    r = await call(server, "POST", f"{base}/tags", key=key.secret, json={"add": ["VIP", "refund"]})
    assert r.status_code == 201 and r.json()["event"]["body"]["all"] == ["refund", "vip"]
    r = await call(server, "POST", f"{base}/tags", key=key.secret, json={"remove": ["nope"]})
    assert r.status_code == 404
    r = await call(server, "POST", f"{base}/messages", key=key.secret, json={"text": "after"})
    seq = r.json()["event"]["seq"]
    await visitor.expect("message", conversation_id=conv, seq=seq)  # the barrier:
    assert not [f for f in visitor.inbox if f.get("seq") == note_seq]  # the note never came

    # Transfer to bob: the router offers it to him; ann's chat leaves her.
    bob, _ = await hub.agent("bob")
    r = await call(
        server,
        "POST",
        f"{base}/transfer",
        key=key.secret,
        json={"to_agent": bob_id, "client_id": "t1"},
    )
    assert r.status_code == 201, r.text
    offer = await bob.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == conv
    retry = await call(
        server,
        "POST",
        f"{base}/transfer",
        key=key.secret,
        json={"to_agent": bob_id, "client_id": "t1"},
    )
    assert retry.status_code == 200 and retry.json()["event"]["seq"] == r.json()["event"]["seq"]
    await bob.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")

    got = (await call(server, "GET", base, key=key.secret)).json()["conversation"]
    assert (
        got["status"] == "active" and got["agent_id"] == bob_id and got["tags"] == ["refund", "vip"]
    )

    r = await call(server, "POST", f"{base}/close", key=key.secret)
    assert r.status_code == 200 and r.json()["event"]["kind"] == "closed"
    closed = await visitor.expect("closed", conversation_id=conv)
    assert closed["seq"] == r.json()["event"]["seq"]
    await bob.expect("closed", conversation_id=conv)
    again = await call(server, "POST", f"{base}/close", key=key.secret)
    assert again.status_code == 200 and again.json()["event"] == r.json()["event"]
    r = await call(server, "POST", f"{base}/messages", key=key.secret, json={"text": "late"})
    assert r.status_code == 409

    agents = (await call(server, "GET", "/api/v1/agents", key=key.secret)).json()["agents"]
    by_name = {a["username"]: a for a in agents}
    assert by_name["bob"]["status"] == "online" and by_name["bob"]["load"] == 0
    assert by_name[ADMIN]["status"] == "offline"


async def test_list_filters_and_pages(hub: Hub) -> None:
    (server,) = await start_hub(hub)
    admin = await hub.login(ADMIN)
    key = await make_key(server, admin, "Warehouse", "read")
    ids = [
        (await start_chat(hub, topic=t))[1] for t in ("general", "billing", "billing", "billing")
    ]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"topic": "billing", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await call(server, "GET", "/api/v1/conversations", key=key.secret, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == 3 and len(page["conversations"]) <= 2
        seen += [c["conversation_id"] for c in page["conversations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids[1:]))  # newest first, each once

    r = await call(
        server,
        "GET",
        "/api/v1/conversations",
        key=key.secret,
        params={"status": "queued", "since": "1d"},
    )
    assert r.json()["total"] == 4
    r = await call(
        server, "GET", "/api/v1/conversations", key=key.secret, params={"status": "closed"}
    )
    assert r.json() == {"conversations": [], "total": 0, "next_cursor": None}

    refused: list[tuple[dict[str, Any], str | None]] = [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "lost"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"agent": "nobody"}, "agent"),
        ({"since": "yesterday"}, None),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "until"),
    ]
    for params, field in refused:
        r = await call(server, "GET", "/api/v1/conversations", key=key.secret, params=params)
        assert r.status_code == 422, (params, r.text)
        if field:
            assert r.json()["field"] == field
    r = await call(server, "GET", "/api/v1/conversations/nope", key=key.secret)
    assert r.status_code == 404


async def test_analytics_accept_read_keys(hub: Hub) -> None:
    (server,) = await start_hub(hub)
    admin = await hub.login(ADMIN)
    reader = await make_key(server, admin, "BI", "read")
    writer = await make_key(server, admin, "Writer", "write", "bot")
    await start_chat(hub, text="hello")
    r = await call(server, "GET", "/api/v1/analytics/summary", key=reader.secret)
    assert r.status_code == 200, r.text
    r = await call(server, "GET", "/api/v1/export", key=reader.secret, params={"format": "jsonl"})
    assert r.status_code == 200 and b"hello" in r.content
    assert (await call(server, "GET", "/api/v1/export", key=writer.secret)).status_code == 403
    r = await call(server, "GET", "/api/v1/export", key=reader.secret, params={"redact": "false"})
    assert r.status_code == 403  # never as an admin
    assert (
        await call(server, "GET", "/api/v1/analytics/audit", key=reader.secret)
    ).status_code == 403
    assert (await call(server, "GET", "/api/v1/export", key="csk_1_forged")).status_code == 401
