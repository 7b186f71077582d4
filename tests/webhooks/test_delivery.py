"""Webhooks as a receiving system sees them: real hub processes, a real HTTP receiver, real
visitors and agents over WebSockets. Signed, in order per conversation, retried after 500s and
timeouts, redelivered after a hub is killed, never duplicated across two processes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from chatserver.webhooks import verify
from tests.admin.conftest import ADMIN, api
from tests.chatserver.integration.conftest import Hub
from tests.chatserver.integration.helpers import open_chat
from tests.support.receiver import Received, Receiver
from tests.webhooks.conftest import endpoint, start


def by_conversation(received: list[Received]) -> dict[str, list[Received]]:
    out: dict[str, list[Received]] = {}
    for r in received:
        out.setdefault(r.json["data"]["conversation"]["id"], []).append(r)
    return out


async def log_of(hub: Hub, token: str, webhook_id: str) -> list[dict[str, Any]]:
    r = await api(
        hub.server, "GET", f"/api/v1/admin/webhooks/{webhook_id}/deliveries?limit=200", token=token
    )
    assert r.status_code == 200, r.text
    deliveries: list[dict[str, Any]] = r.json()["deliveries"]
    return deliveries


async def settled(hub: Hub, token: str, webhook_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's log once its ``count`` deliveries are all finished (a round trip per look,
    deadline-bounded): a finished delivery is never sent again, so what the receiver has by then
    is all it will get."""
    deadline = time.monotonic() + 20
    while True:
        log = await log_of(hub, token, webhook_id)
        if len(log) == count and all(d["state"] != "pending" for d in log):
            return log
        assert time.monotonic() < deadline, log
        await asyncio.sleep(0.05)


async def test_a_conversation_arrives_signed_and_in_order(hub: Hub, receiver: Receiver) -> None:
    await start(hub)
    token = await hub.login(ADMIN)
    hook = await endpoint(hub.server, token, receiver.url)
    assert hook["secret"].startswith("whsec_")
    agent, _ = await hub.agent("ann")
    visitor, _, conv = await open_chat(hub, agent, name="Vera")
    await visitor.request(
        {"type": "message", "conversation_id": conv, "text": "my invoice", "client_id": "m1"}
    )
    await agent.request(
        {"type": "message", "conversation_id": conv, "text": "let me look", "client_id": "a1"}
    )
    await agent.request({"type": "note", "conversation_id": conv, "text": "not sent anywhere"})
    await agent.request({"type": "close", "conversation_id": conv})
    await visitor.request({"type": "rate", "conversation_id": conv, "score": 5, "comment": "great"})

    got = await receiver.arrived(7)
    assert [r.type for r in got] == [
        "conversation.created",
        "conversation.queued",
        "conversation.assigned",
        "message.created",
        "message.created",
        "conversation.closed",
        "conversation.rated",
    ]
    seqs = [r.json["data"]["seq"] for r in got]
    assert seqs == sorted(seqs)
    for r in got:
        assert verify(hook["secret"], r.body, r.headers["x-chatserver-signature"])
        assert not verify("whsec_wrong", r.body, r.headers["x-chatserver-signature"])
        assert r.headers["x-chatserver-event-id"] == r.json["id"]
        assert r.headers["x-chatserver-event-type"] == r.type
        assert r.headers["content-type"] == "application/json"
        assert set(r.json) == {"id", "type", "created_at", "data"}
        assert r.json["data"]["conversation"]["id"] == conv
    assert len({r.json["id"] for r in got}) == 7
    created, _, assigned, first, second, closed, rated = (r.json["data"] for r in got)
    assert created["visitor"]["name"] == "Vera"
    assert assigned["agent"]["username"] == "ann"
    assert first["message"] == {"text": "my invoice"} and first["actor"]["role"] == "visitor"
    assert second["message"] == {"text": "let me look"} and second["actor"]["name"] == "Ann Lee"
    assert closed["closed_by"] == "agent"
    assert (rated["rating"], rated["comment"]) == (5, "great")
    # A tampered body fails the check the receiver makes.
    r0 = got[0]
    assert not verify(
        hook["secret"], r0.body.replace(b"Vera", b"Eve"), r0.headers["x-chatserver-signature"]
    )
    log = await log_of(hub, token, hook["id"])
    assert len(log) == 7 and {d["state"] for d in log} == {"delivered"}
    assert all(d["attempts"] == 1 and d["last"]["status_code"] == 200 for d in log)


async def test_an_endpoint_gets_only_its_events_and_left_messages(
    hub: Hub, receiver: Receiver
) -> None:
    await start(hub)
    token = await hub.login(ADMIN)
    hook = await endpoint(
        hub.server, token, receiver.url, ["offline_message.created", "conversation.closed"]
    )
    visitor, _ = await hub.visitor()
    await visitor.request(
        {
            "type": "leave_message",
            "topic": "general",
            "language": "en",
            "name": "Ola",
            "email": "ola@example.com",
            "text": "call me back",
        },
        expect="queued",
    )
    [left] = await receiver.arrived(1)
    assert left.type == "offline_message.created"
    assert left.json["data"]["message"] == {"text": "call me back"}
    assert left.json["data"]["email"] == "ola@example.com"
    # The outbox is written with each event: its log is all there is to send, and it is done.
    [row] = await settled(hub, token, hook["id"], 1)
    assert row["type"] == "offline_message.created" and row["attempts"] == 1
    assert len(receiver.received) == 1


async def test_retries_after_500s_and_a_timeout_keep_the_order(
    hub: Hub, receiver: Receiver
) -> None:
    # The first two requests get 500, the third no answer within the hub's 1 s, then 200s.
    def script(request: Received, n: int) -> tuple[int, float]:
        return {0: (500, 0.0), 1: (500, 0.0), 2: (504, 2.0)}.get(n, (200, 0.0))

    receiver.script = script
    await start(hub)
    token = await hub.login(ADMIN)
    hook = await endpoint(hub.server, token, receiver.url, ["message.created"])
    agent, _ = await hub.agent("ann")
    visitor, _, conv = await open_chat(hub, agent)
    for n in range(3):
        await visitor.request(
            {"type": "message", "conversation_id": conv, "text": f"m{n}", "client_id": f"c{n}"}
        )
    got = await receiver.arrived(3, timeout=30)
    # The first message was tried four times before the second was sent at all.
    texts = [r.json["data"]["message"]["text"] for r in receiver.received]
    assert texts[:4] == ["m0"] * 4 and texts[4:] == ["m1", "m2"]
    assert [r.json["data"]["message"]["text"] for r in got] == ["m0", "m1", "m2"]
    assert len({r.json["id"] for r in receiver.received[:4]}) == 1  # the same event each time
    assert len({r.body for r in receiver.received[:4]}) == 1  # byte for byte
    waits = [
        b.at - a.at for a, b in zip(receiver.received[:3], receiver.received[1:3], strict=False)
    ]
    assert all(w >= 0.3 * 0.5 - 0.05 for w in waits), waits  # backed off
    first = next(
        d for d in await log_of(hub, token, hook["id"]) if d["seq"] == got[0].json["data"]["seq"]
    )
    assert first["attempts"] == 4 and first["state"] == "delivered"
    r = await api(
        hub.server,
        "GET",
        f"/api/v1/admin/webhooks/{hook['id']}/deliveries/{first['id']}",
        token=token,
    )
    attempts = r.json()["delivery"]["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, None, 200]
    assert attempts[2]["error"] == "no answer within 1 s"
    assert attempts[0]["response"] == "receiver says no"


async def test_a_killed_hub_delivers_after_its_restart_and_redeliver_resends(
    hub: Hub, receiver: Receiver
) -> None:
    receiver.script = lambda request, n: (503, 0.0)
    await start(hub, CHATSERVER_WEBHOOK_RETRY_BASE_S="5")
    token = await hub.login(ADMIN)
    hook = await endpoint(hub.server, token, receiver.url, ["conversation.created"])
    visitor, _ = await hub.visitor()
    await visitor.request({"type": "start", "topic": "general", "language": "en"}, expect="queued")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the first attempt failed and was recorded
        log = await log_of(hub, token, hook["id"])
        if log and log[0]["attempts"] == 1:
            break
        await asyncio.sleep(0.05)
    assert log and log[0]["attempts"] == 1 and log[0]["state"] == "pending", log
    hub.server.kill()  # SIGKILL, mid back-off (the next try is 2.5 to 5 s away)
    tried = len(receiver.received)
    receiver.script = lambda request, n: (200, 0.0)
    hub.server.start()
    [delivered] = await receiver.arrived(1, timeout=30)
    assert delivered.type == "conversation.created"
    assert len(receiver.delivered()) == 1 and len(receiver.received) >= tried + 1
    [row] = await log_of(hub, token, hook["id"])
    assert row["state"] == "delivered" and row["attempts"] == len(receiver.received)

    r = await api(
        hub.server,
        "POST",
        f"/api/v1/admin/webhooks/{hook['id']}/deliveries/{row['id']}/redeliver",
        token=token,
    )
    assert r.status_code == 201, r.text
    assert r.json()["delivery"]["redelivery_of"] == row["id"]
    again = (await receiver.arrived(2))[1]
    assert (
        again.json == delivered.json
        and again.headers["x-chatserver-event-id"] == delivered.json["id"]
    )
    assert [d["redelivery_of"] for d in await log_of(hub, token, hook["id"])] == [row["id"], None]


async def test_two_hub_processes_send_each_event_once(hub: Hub, receiver: Receiver) -> None:
    first, second = await start(hub, servers=2)
    token = await hub.login(ADMIN)
    hook = await endpoint(
        hub.server, token, receiver.url, ["conversation.created", "message.created"]
    )
    visitors = []
    for n in range(12):
        server = (first, second)[n % 2]
        visitor, _ = await hub.visitor(server=server)
        queued = await visitor.request(
            {"type": "start", "topic": "general", "language": "en", "text": f"hello {n}"},
            expect="queued",
        )
        visitors.append((visitor, queued["conversation_id"]))
    for n, (visitor, conv) in enumerate(visitors):
        for k in range(3):
            await visitor.request(
                {
                    "type": "message",
                    "conversation_id": conv,
                    "text": f"{n}.{k}",
                    "client_id": f"{n}-{k}",
                }
            )
    got = await receiver.arrived(12 * 5, timeout=30)
    # Every delivery is finished (delivered): none is left to send again, so what the receiver
    # has is all it will get — each event once.
    log = await settled(hub, token, hook["id"], 60)
    assert {d["state"] for d in log} == {"delivered"}
    ids = Counter(r.json["id"] for r in receiver.received)
    assert len(ids) == 60 and set(ids.values()) == {1}
    for conv, rows in by_conversation(got).items():
        seqs = [r.json["data"]["seq"] for r in rows]
        assert seqs == sorted(seqs), (conv, seqs)
        assert rows[0].type == "conversation.created"
