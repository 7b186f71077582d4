"""Verified users against real hub processes: ``identify`` over the visitor socket, history
joined across devices only for a proven identity, ``enforce`` refusing claims, the returning
agent following the user, and agents seeing who is verified."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import orjson
import pytest

from chatserver.core.identity import user_hash
from tests.chatserver.integration.conftest import Hub, add_agent
from tests.support.peer import Peer

SHOP = "shop-secret-0123456789abcdef-0123456789"
BLOG = "blog-secret-0123456789abcdef-0123456789"
SITES = {"default": ["self"], "shop": ["self"], "strict": ["self"], "blog": ["self"]}
IDENTITY = {
    "shop": {"mode": "optional", "secret": SHOP},
    "strict": {"mode": "enforce", "secret": SHOP},
    "blog": {"mode": "optional", "secret": BLOG},
}


@pytest.fixture
def hub_env(hub_env: dict[str, str]) -> dict[str, str]:
    return {
        **hub_env,
        "CHATSERVER_SITES": orjson.dumps(SITES).decode(),
        "CHATSERVER_IDENTITY": orjson.dumps(IDENTITY).decode(),
    }


def signed(user: str, secret: str = SHOP, **claims: Any) -> str:
    body: dict[str, Any] = {"sub": user, "exp": int(time.time()) + 300, "name": "Ada Lovelace"}
    return jwt.encode({**body, **claims}, secret, algorithm="HS256")


async def identify(peer: Peer, **fields: Any) -> dict[str, Any]:
    return await peer.request({"type": "identify", "ref": "i", **fields}, expect="identified")


async def chat_and_close(hub: Hub, visitor: Peer, agent: Peer, text: str) -> str:
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en", "text": text}, expect="queued"
    )
    conv: str = queued["conversation_id"]
    offer = await agent.expect("offer", timeout=10)
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a-" + conv, "text": "Hi!"}
    )
    await agent.request({"type": "close", "conversation_id": conv})
    await visitor.expect("closed", conversation_id=conv)
    return conv


async def staff_get(hub: Hub, username: str, path: str) -> httpx.Response:
    token = await hub.login(username)
    async with httpx.AsyncClient() as http:
        return await http.get(
            f"{hub.server.http}{path}", headers={"Authorization": f"Bearer {token}"}
        )


async def context(hub: Hub, username: str, conv: str) -> dict[str, Any]:
    r = await staff_get(hub, username, f"/api/v1/conversations/{conv}/context")
    assert r.status_code == 200, r.text
    visitor: dict[str, Any] = r.json()["visitor"]
    return visitor


async def earlier(hub: Hub, username: str, conv: str) -> list[str]:
    r = await staff_get(hub, username, f"/api/v1/conversations/{conv}/context")
    return [e["conversation_id"] for e in r.json()["earlier"]]


async def test_a_verified_user_sees_their_history_on_another_device(hub: Hub) -> None:
    await add_agent(hub.data_dir, "bob")
    await add_agent(hub.data_dir, "sue", roles=("supervisor",))
    hub.start_server()
    bob, _ = await hub.agent("bob")

    phone, _ = await hub.visitor(site="shop")
    found = await identify(phone, user_id="user-42", user_hash=user_hash(SHOP, "user-42"))
    assert found == {
        "type": "identified", "verified": True, "user_id": "user-42", "conversations": [],
        "ref": "i",
    }  # fmt: skip
    conv = await chat_and_close(hub, phone, bob, "my order is late")
    seen = await context(hub, "bob", conv)
    assert (seen["verified"], seen["user_id"]) == (True, "user-42")
    html = (await staff_get(hub, "sue", f"/dashboard/conversations/{conv}")).text
    assert '<code class="user-id">user-42</code>' in html and "✓ Verified" in html

    # Another device: a new visitor token, the same user proven with a token this time.
    laptop, welcome = await hub.visitor(site="shop")
    assert welcome["conversations"] == []
    found = await identify(laptop, token=signed("user-42"))
    assert (found["verified"], found["user_id"]) == (True, "user-42")
    assert [c["conversation_id"] for c in found["conversations"]] == [conv]
    await laptop.send({"type": "resume", "conversation_id": conv, "last_seq": 0})
    first = await laptop.expect("message", conversation_id=conv)
    assert first["text"] == "my order is late"
    assert (await laptop.expect("message", client_id="a-" + conv))["text"] == "Hi!"
    await laptop.expect("resumed", conversation_id=conv)

    # The laptop's own conversation joins the history the phone sees after identify again.
    conv2 = await chat_and_close(hub, laptop, bob, "and the refund?")
    again = await identify(phone, user_id="user-42", user_hash=user_hash(SHOP, "user-42"))
    assert [c["conversation_id"] for c in again["conversations"]] == [conv, conv2]
    # The agent's visitor panel lists the phone's conversation as an earlier one of this user.
    assert await earlier(hub, "bob", conv2) == [conv]
    r = await staff_get(hub, "bob", f"/api/v1/conversations/{conv2}/earlier/{conv}")
    assert r.status_code == 200 and r.json()["events"][0]["body"]["text"] == "my order is late"


@pytest.mark.parametrize(
    "claim",
    [
        {"user_id": "user-42", "user_hash": user_hash(SHOP, "user-43")},  # forged
        {"user_id": "user-42", "user_hash": user_hash(BLOG, "user-42")},  # another site's
        {"user_id": "user-42"},  # no proof at all
        {"token": signed("user-42", exp=int(time.time()) - 3600)},  # expired
        {"token": signed("user-42", secret=BLOG)},  # another site's secret
    ],
    ids=["forged", "other-site-hash", "no-hash", "expired-jwt", "other-site-jwt"],
)
async def test_an_unproven_claim_never_opens_the_users_history(
    hub: Hub, claim: dict[str, Any]
) -> None:
    await add_agent(hub.data_dir, "bob")
    await add_agent(hub.data_dir, "sue", roles=("supervisor",))
    hub.start_server()
    bob, _ = await hub.agent("bob")
    owner, _ = await hub.visitor(site="shop")
    await identify(owner, user_id="user-42", user_hash=user_hash(SHOP, "user-42"))
    conv = await chat_and_close(hub, owner, bob, "private matter")

    intruder, _ = await hub.visitor(site="shop")
    found = await identify(intruder, name="Mallory", **claim)
    assert (found["verified"], found["user_id"], found["conversations"]) == (False, None, [])
    assert found["reason"]
    error = await intruder.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0, "ref": "u"}, expect="error"
    )
    assert error["code"] == "not_found"
    # The claim may name the visitor, marked unverified — never as the verified user.
    conv2 = await chat_and_close(hub, intruder, bob, "hello")
    seen = await context(hub, "bob", conv2)
    assert (seen["name"], seen["verified"]) == ("Mallory", False)
    assert await earlier(hub, "bob", conv2) == []
    html = (await staff_get(hub, "sue", f"/dashboard/conversations/{conv2}")).text
    assert "Verified" not in html.replace("Unverified", "")
    assert ("Unverified" in html) == ("user_id" in claim)
    r = await staff_get(hub, "bob", f"/api/v1/conversations/{conv2}/earlier/{conv}")
    assert r.status_code == 404
    # Nothing leaked to the real user's history either.
    found = await identify(owner, user_id="user-42", user_hash=user_hash(SHOP, "user-42"))
    assert [c["conversation_id"] for c in found["conversations"]] == [conv]


async def test_enforce_refuses_unverified_claims_and_changes_nothing(hub: Hub) -> None:
    hub.start_server()
    visitor, welcome = await hub.visitor(site="strict")
    for claim in (
        {"user_id": "user-42", "user_hash": "0" * 64},
        {"user_id": "user-42"},
        {"token": signed("user-42", secret=BLOG)},
        {"token": "not-a-token"},
    ):
        error = await visitor.request(
            {"type": "identify", "ref": "i", "name": "Mallory", **claim}, expect="error"
        )
        assert error["code"] == "forbidden"
        assert error["message"].startswith("identity not verified: "), error["message"]
    # The connection stays usable, and a proven identity is then accepted.
    await visitor.request({"type": "ping", "ref": "p"}, expect="pong")
    found = await identify(visitor, token=signed("user-42"))
    assert (found["verified"], found["user_id"]) == (True, "user-42")
    # Anonymous visitors still chat on an enforcing site: it refuses claims, not people.
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en"}, expect="queued"
    )
    assert queued["conversation_id"]
    assert welcome["visitor_id"]


async def test_bad_identify_frames_are_refused(hub: Hub) -> None:
    hub.start_server()
    visitor, _ = await hub.visitor(site="shop")
    for frame in (
        {"type": "identify"},
        {"type": "identify", "user_hash": "ab"},
        {"type": "identify", "token": "a.b.c", "user_id": "u"},
        {"type": "identify", "user_id": "u" * 257},
        {"type": "identify", "user_id": "u", "user_hash": 5},
    ):
        error = await visitor.request({**frame, "ref": "i"}, expect="error")
        assert error["code"] == "bad_frame", error
    found = await identify(visitor, user_id="u", user_hash=user_hash(SHOP, "u"))
    assert found["verified"] is True


async def test_off_sites_verify_nothing(hub: Hub) -> None:
    hub.start_server()
    visitor, _ = await hub.visitor()  # the default site: identity off
    found = await identify(visitor, user_id="user-42", user_hash=user_hash(SHOP, "user-42"))
    assert (found["verified"], found["user_id"]) == (False, None)
    assert "off" in found["reason"]


async def test_a_visitor_verified_as_one_user_cannot_become_another(hub: Hub) -> None:
    await add_agent(hub.data_dir, "bob")
    hub.start_server()
    bob, _ = await hub.agent("bob")
    visitor, welcome = await hub.visitor(site="shop")
    await identify(visitor, token=signed("user-42"))
    conv = await chat_and_close(hub, visitor, bob, "mine")
    await visitor.close()

    back, _ = await hub.visitor(welcome["token"], site="shop")
    error = await back.request(
        {"type": "identify", "token": signed("user-99"), "ref": "i"}, expect="error"
    )
    assert error["code"] == "conflict"
    seen = await context(hub, "bob", conv)
    assert (seen["user_id"], seen["verified"]) == ("user-42", True)


async def test_the_returning_agent_follows_the_verified_user(hub: Hub) -> None:
    await add_agent(hub.data_dir, "bob")
    await add_agent(hub.data_dir, "alice", capacity=6)  # a lower load ratio than Bob's
    hub.start_server()
    bob, _ = await hub.agent("bob")
    phone, _ = await hub.visitor(site="shop")
    await identify(phone, user_id="user-42", user_hash=user_hash(SHOP, "user-42"))
    await chat_and_close(hub, phone, bob, "first visit")
    # Bob is busy with someone else; Alice comes online with nothing to do.
    other, _ = await hub.visitor(site="shop")
    await other.request({"type": "start", "topic": "general", "language": "en"}, expect="queued")
    offer = await bob.expect("offer", timeout=10)
    await bob.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    alice, _ = await hub.agent("alice")

    # A stranger goes to the idle agent…
    stranger, _ = await hub.visitor(site="shop")
    queued = await stranger.request(
        {"type": "start", "topic": "general", "language": "en"}, expect="queued"
    )
    offer = await alice.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
    await alice.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")

    # …the verified user, on a new device, goes back to Bob though Alice is less loaded.
    laptop, _ = await hub.visitor(site="shop")
    await identify(laptop, token=signed("user-42"))
    queued = await laptop.request(
        {"type": "start", "topic": "general", "language": "en", "text": str(uuid.uuid4())},
        expect="queued",
    )
    offer = await bob.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == queued["conversation_id"]
