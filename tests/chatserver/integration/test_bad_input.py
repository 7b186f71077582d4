"""Every bad input gets its error, leaves the connection usable and the data unchanged."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import open_chat
from tests.support.peer import Peer


@pytest.fixture
async def chat(hub: Hub):  # type: ignore[no-untyped-def]
    await add_agent(hub.data_dir, "kim")
    hub.start_server(CHATSERVER_HELLO_TIMEOUT_S="1")
    agent, _ = await hub.agent("kim")
    visitor, _token, conv = await open_chat(hub, agent)
    return agent, visitor, conv


BAD_FRAMES = [
    ("not json", "bad_frame"),
    ("[1, 2]", "bad_frame"),
    ("42", "bad_frame"),
    ('{"no": "type"}', "bad_frame"),
    ('{"type": 7}', "bad_frame"),
    ('{"type": "explode"}', "bad_frame"),
    ('{"type": "accept", "offer_id": "x"}', "bad_frame"),
    ('{"type": "message", "conversation_id": "CONV", "client_id": "c"}', "bad_frame"),
    ('{"type": "message", "conversation_id": "CONV", "client_id": 5, "text": "x"}', "bad_frame"),
    (
        '{"type": "message", "conversation_id": "CONV", "client_id": "c", "text": "   "}',
        "bad_frame",
    ),
    (
        '{"type": "message", "conversation_id": "CONV", "client_id": "c", "text": "'
        + "x" * 4001
        + '"}',
        "too_large",
    ),
    ('{"type": "typing", "conversation_id": "CONV", "active": "yes"}', "bad_frame"),
    ('{"type": "read", "conversation_id": "CONV", "seq": true}', "bad_frame"),
    ('{"type": "resume", "conversation_id": "CONV", "last_seq": -1}', "bad_frame"),
    ('{"type": "rate", "conversation_id": "CONV", "score": 6}', "bad_frame"),
    ('{"type": "start", "topic": "astrology", "language": "en"}', "bad_frame"),
    ('{"type": "start", "topic": "general", "language": "klingon"}', "bad_frame"),
    ('{"type": "rate", "conversation_id": "CONV", "score": 4}', "conflict"),
    ('{"type": "message", "conversation_id": "nope", "client_id": "c", "text": "x"}', "not_found"),
]


async def test_visitor_bad_frames(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    agent, visitor, conv = chat
    for raw, code in BAD_FRAMES:
        raw = raw.replace("CONV", conv)
        if raw.startswith("{"):
            raw = raw[:-1] + ', "ref": "bad"}'
        await visitor.send(raw)
        err = await visitor.expect("error")
        assert err["code"] == code, (raw[:80], err)
        if raw.startswith("{") and '"type": 7' not in raw:
            assert err.get("ref") == "bad", (raw[:80], err)
        assert err["message"]
    # Still usable, and nothing was stored by any of it.
    ok = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "fine", "text": "fine"}
    )
    got = await agent.expect("message", client_id="fine")
    assert got["seq"] == ok["seq"]
    assert [f for f in agent.inbox if f.get("type") == "message"] == []


async def test_start_names_allowed_values(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    _, visitor, _ = chat
    err = await visitor.request(
        {"type": "start", "topic": "astrology", "language": "en"}, expect="error"
    )
    for topic in ("general", "billing", "account", "technical"):
        assert topic in err["message"]


async def test_agent_cannot_touch_chats_it_does_not_hold(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    agent, visitor, conv = chat
    await add_agent(hub.data_dir, "lee")
    other, _ = await hub.agent("lee")
    for frame in (
        {"type": "message", "conversation_id": conv, "client_id": "x", "text": "hijack"},
        {"type": "note", "conversation_id": conv, "text": "x"},
        {"type": "close", "conversation_id": conv},
        {"type": "resume", "conversation_id": conv, "last_seq": 0},
    ):
        err = await other.request(dict(frame), expect="error")
        assert err["code"] == "forbidden", (frame, err)
    err = await other.request({"type": "accept", "offer_id": "made-up"}, expect="error")
    assert err["code"] == "conflict"
    # The conversation is untouched.
    ok = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "after", "text": "x"}
    )
    assert (await agent.expect("message", client_id="after"))["seq"] == ok["seq"]


async def test_frame_too_big_closes_1009(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    _, visitor, conv = chat
    await visitor.send(
        '{"type":"message","conversation_id":"'
        + conv
        + '","client_id":"c","text":"'
        + "x" * 70000
        + '"}'
    )
    assert await visitor.wait_closed() == 1009


async def test_no_hello_in_time_closes_4401(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    peer = await Peer(f"{hub.server.ws}/ws/visitor").connect()
    hub.peers.append(peer)
    assert await peer.wait_closed(5) == 4401


async def test_frames_before_hello_close_4401(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    peer = await Peer(f"{hub.server.ws}/ws/agent").connect()
    hub.peers.append(peer)
    await peer.send({"type": "status", "status": "online"})
    err = await peer.expect("error")
    assert err["code"] == "unauthorized"
    assert await peer.wait_closed(5) == 4401


async def test_bad_tokens_close_4401(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    agent_peer = await Peer(f"{hub.server.ws}/ws/agent").connect()
    visitor_peer = await Peer(f"{hub.server.ws}/ws/visitor").connect()
    hub.peers += [agent_peer, visitor_peer]
    await agent_peer.send({"type": "hello", "token": "forged"})
    await visitor_peer.send({"type": "hello", "token": "forged"})
    assert await agent_peer.wait_closed(5) == 4401
    assert await visitor_peer.wait_closed(5) == 4401


async def test_origin_not_allowed_closes_4403(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    evil = await Peer(f"{hub.server.ws}/ws/visitor", origin="https://evil.example").connect()
    hub.peers.append(evil)
    await evil.send({"type": "hello", "token": None})
    assert await evil.wait_closed(5) == 4403
    own = await Peer(f"{hub.server.ws}/ws/visitor", origin=hub.server.http).connect()
    hub.peers.append(own)
    await own.send({"type": "hello", "token": None})
    await own.expect("welcome")


async def test_rate_limit_then_4429(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    _, visitor, conv = chat
    for i in range(200):
        await visitor.send(
            {"type": "message", "conversation_id": conv, "client_id": f"flood{i}", "text": "x"}
        )
    err = await visitor.expect("error", code="rate_limited", timeout=10)
    assert "too many frames" in err["message"]
    assert await visitor.wait_closed(10) == 4429


async def test_login_errors_do_not_say_which_part_was_wrong(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        wrong_pw = await http.post(
            f"{hub.server.http}/api/v1/auth/login",
            json={"username": "kim", "password": "nope-nope"},
        )
        no_user = await http.post(
            f"{hub.server.http}/api/v1/auth/login",
            json={"username": "ghost", "password": "nope-nope"},
        )
        garbage = await http.post(f"{hub.server.http}/api/v1/auth/login", content=b"{{")
        anon = await http.get(f"{hub.server.http}/api/v1/conversations/x")
    assert wrong_pw.status_code == no_user.status_code == 401
    assert wrong_pw.json() == no_user.json()
    assert garbage.status_code == 400
    assert anon.status_code == 401


async def test_logout_revokes_token(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    token = await hub.login("kim")
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await http.get(f"{hub.server.http}/api/v1/me", headers=auth)).status_code == 200
        assert (
            await http.post(f"{hub.server.http}/api/v1/auth/logout", headers=auth)
        ).status_code == 204
        assert (await http.get(f"{hub.server.http}/api/v1/me", headers=auth)).status_code == 401
    peer = await Peer(f"{hub.server.ws}/ws/agent").connect()
    hub.peers.append(peer)
    await peer.send({"type": "hello", "token": token})
    assert await peer.wait_closed(5) == 4401


async def test_analyst_reads_but_cannot_chat(hub: Hub, chat) -> None:  # type: ignore[no-untyped-def]
    _agent, _visitor, conv = chat
    await add_agent(hub.data_dir, "ana", roles=("analyst",))
    analyst, _ = await hub.agent("ana", online=False)
    err = await analyst.request({"type": "status", "status": "online"}, expect="error")
    assert err["code"] == "forbidden"
    await analyst.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
    )
    err = await analyst.request(
        {"type": "message", "conversation_id": conv, "client_id": "a", "text": "x"}, expect="error"
    )
    assert err["code"] == "forbidden"
    token = await hub.login("ana")
    async with httpx.AsyncClient() as http:
        r = await http.get(
            f"{hub.server.http}/api/v1/conversations/{conv}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200


@pytest.mark.clock_shifted
async def test_accept_after_deadline_is_a_conflict(hub: Hub) -> None:
    await add_agent(hub.data_dir, "max")
    routing_toml = hub.data_dir / "routing.toml"
    routing_toml.write_text("offer_timeout_s = 1\n")
    hub.start_server(CHATSERVER_ROUTING_CONFIG=str(routing_toml))
    agent, _ = await hub.agent("max")
    visitor, _ = await hub.visitor()
    await visitor.request({"type": "start", "topic": "general", "language": "en"}, expect="queued")
    offer = await agent.expect("offer")
    withdrawn = await agent.expect("offer_withdrawn", timeout=5)
    assert withdrawn["offer_id"] == offer["offer_id"]
    err = await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="error")
    assert err["code"] == "conflict"
    await asyncio.sleep(0)


async def test_a_client_that_stops_reading_is_disconnected_and_resumes(hub: Hub) -> None:
    await add_agent(hub.data_dir, "sam")
    hub.start_server(
        CHATSERVER_SEND_QUEUE_FRAMES="10",
        CHATSERVER_RATE_PER_S="100000",
        CHATSERVER_RATE_BURST="100000",
    )
    agent, _ = await hub.agent("sam")
    visitor, token, conv = await open_chat(hub, agent)
    assert visitor.ws is not None
    visitor.ws.transport.pause_reading()  # the visitor's app hangs: it reads nothing more
    text = "y" * 3900
    sent = 0
    closed_code = None
    for i in range(3000):
        ack = await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": f"f{i}", "text": text}
        )
        sent = ack["seq"]
        if i % 50 == 0:
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{hub.server.http}/metrics")).text
            if "chat_slow_client_disconnects_total 1.0" in metrics:
                closed_code = "counted"
                break
    assert closed_code == "counted", "the stalled visitor was never disconnected"
    # The agent was never slowed down by it, and the visitor loses nothing: it resumes by seq.
    visitor2, _ = await hub.visitor(token=token)
    resumed = await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed", timeout=30
    )
    assert resumed["last_seq"] >= sent
    seqs = [f["seq"] for f in visitor2.take("message")]
    assert seqs == sorted(set(seqs)) and seqs[-1] == sent


@pytest.mark.clock_shifted
async def test_expired_agent_token_is_refused(hub: Hub) -> None:
    await add_agent(hub.data_dir, "tess")
    hub.start_server(CHATSERVER_TOKEN_TTL_S="1")
    token = await hub.login("tess")
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await http.get(f"{hub.server.http}/api/v1/me", headers=auth)).status_code == 200
        await asyncio.sleep(1.2)
        assert (await http.get(f"{hub.server.http}/api/v1/me", headers=auth)).status_code == 401
    peer = await Peer(f"{hub.server.ws}/ws/agent").connect()
    hub.peers.append(peer)
    await peer.send({"type": "hello", "token": token})
    assert await peer.wait_closed(5) == 4401
