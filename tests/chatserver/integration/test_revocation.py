"""Ending a session bites at once, whichever way it is ended: sign-out over HTTP, the admin API
(disable, role change, password reset), the command line (disable, new password). The agent's
socket — held by the *other* hub process — is closed with 4401 within 2 s, the agent is out of
routing (a new visitor is told nobody is online), and the audit log says who did it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.support.peer import Peer
from tests.support.server import run_cli
from tests.support.stores import query

Action = Callable[[Hub, str, str], Awaitable[None]]


async def admin_api(hub: Hub, method: str, path: str, body: object | None = None) -> None:
    token = await hub.login("root")
    async with httpx.AsyncClient(base_url=hub.servers[0].http) as http:
        r = await http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code in (200, 204), r.text


async def sign_out(hub: Hub, agent_id: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=hub.servers[0].http) as http:
        r = await http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204, r.text


async def admin_disables(hub: Hub, agent_id: str, token: str) -> None:
    await admin_api(hub, "POST", f"/api/v1/admin/agents/{agent_id}/disable")


async def admin_makes_supervisor(hub: Hub, agent_id: str, token: str) -> None:
    await admin_api(hub, "PATCH", f"/api/v1/admin/agents/{agent_id}", {"roles": ["supervisor"]})


async def admin_resets_password(hub: Hub, agent_id: str, token: str) -> None:
    await admin_api(
        hub, "POST", f"/api/v1/admin/agents/{agent_id}/password", {"password": "a brand new one"}
    )


async def cli_disables(hub: Hub, agent_id: str, token: str) -> None:
    done = await asyncio.to_thread(run_cli, hub.data_dir, "agents", "disable", "max")
    assert done.returncode == 0, done.stderr


async def cli_sets_password(hub: Hub, agent_id: str, token: str) -> None:
    done = await asyncio.to_thread(
        run_cli, hub.data_dir, "agents", "set", "max", "--password-stdin",
        stdin="a brand new one\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


WAYS: dict[str, tuple[Action, str]] = {
    "sign-out": (sign_out, "signed_out"),
    "admin disables": (admin_disables, "agent_disabled"),
    "admin changes roles": (admin_makes_supervisor, "agent_changed"),
    "admin resets password": (admin_resets_password, "agent_password_reset"),
    "cli disables": (cli_disables, "agent_disabled"),
    "cli sets password": (cli_sets_password, "agent_password_reset"),
}


@pytest.mark.parametrize("way", list(WAYS))
async def test_ending_a_session_closes_its_socket_on_every_process(hub: Hub, way: str) -> None:
    action, audited = WAYS[way]
    max_id = await add_agent(hub.data_dir, "max")
    await add_agent(hub.data_dir, "root", roles=("admin",))
    hub.start_server()
    holder = hub.start_server()  # the agent's socket is here, the action goes elsewhere
    token = await hub.login("max", server=holder)
    agent = await Peer(f"{holder.ws}/ws/agent").connect()
    hub.peers.append(agent)
    await agent.send({"type": "hello", "token": token})
    await agent.expect("welcome")
    await agent.request({"type": "status", "status": "online"})

    await action(hub, max_id, token)  # done: the change is in the store
    done = time.monotonic()
    assert await agent.wait_closed(timeout=5) == 4401
    assert time.monotonic() - done < 2.0, way

    # Out of routing: a visitor now meets no agent online, and the token opens nothing.
    visitor, _ = await hub.visitor(server=holder)
    queued = await visitor.request(
        {"type": "start", "topic": "general", "language": "en"}, expect="queued"
    )
    await visitor.expect("offline", conversation_id=queued["conversation_id"])
    again = await Peer(f"{holder.ws}/ws/agent").connect()
    hub.peers.append(again)
    await again.send({"type": "hello", "token": token})
    assert await again.wait_closed() == 4401
    actions = [a for (a,) in query(hub.data_dir, "SELECT action FROM audit_log")]
    assert audited in actions, actions


async def test_an_accept_in_the_moment_before_the_socket_closes_is_refused(hub: Hub) -> None:
    """Disabled from the command line while an offer stands: the accept gets `unauthorized`
    (the store's word is asked), never `assigned`."""
    await add_agent(hub.data_dir, "max")
    server = hub.start_server(CHATSERVER_TICK_INTERVAL_S="30")  # no tick to close it first
    agent, _ = await hub.agent("max")
    visitor, _ = await hub.visitor()
    await visitor.request({"type": "start", "topic": "general", "language": "en"}, "queued")
    offer = await agent.expect("offer", timeout=10)
    done = await asyncio.to_thread(run_cli, hub.data_dir, "agents", "disable", "max")
    assert done.returncode == 0, done.stderr
    refused = await agent.request(
        {"type": "accept", "offer_id": offer["offer_id"]}, expect="error", timeout=10
    )
    assert refused["code"] == "unauthorized"
    assert await agent.wait_closed() == 4401
    assert server.proc is not None


async def test_an_expired_session_is_closed_while_open(hub: Hub) -> None:
    await add_agent(hub.data_dir, "max")
    hub.start_server(CHATSERVER_TOKEN_TTL_S="2")
    token = await hub.login("max", password=PASSWORD)
    agent = await Peer(f"{hub.server.ws}/ws/agent").connect()
    hub.peers.append(agent)
    await agent.send({"type": "hello", "token": token})
    await agent.expect("welcome")
    assert await agent.wait_closed(timeout=6) == 4401
