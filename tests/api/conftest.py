"""The REST API v1 against real `chatserver serve` processes and a real `redis-server`: an admin
makes keys over the admin API, integrations call with them, WebSocket visitors and agents
(`tests.support.peer.Peer`) see what the calls change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.admin.conftest import ADMIN, start_hub
from tests.chatserver.integration.conftest import Hub, hub, hub_env, make_hub
from tests.support.server import ServerProcess

__all__ = ["ADMIN", "hub", "hub_env", "make_hub", "start_hub"]


async def call(
    server: ServerProcess,
    method: str,
    path: str,
    *,
    key: str | None = None,
    json: Any = None,
    params: dict[str, Any] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """One HTTP call, with ``key`` (an API key or an agent token) as the bearer."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if content is not None:
        headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient() as http:
        return await http.request(
            method,
            f"{server.http}{path}",
            headers=headers,
            json=json,
            params=params,
            content=content,
            timeout=10,
        )


@dataclass
class Key:
    id: str
    secret: str
    name: str


async def make_key(server: ServerProcess, admin_token: str, name: str, *scopes: str) -> Key:
    r = await call(
        server,
        "POST",
        "/api/v1/admin/api-keys",
        key=admin_token,
        json={"name": name, "scopes": list(scopes)},
    )
    assert r.status_code == 201, r.text
    data = r.json()
    return Key(data["api_key"]["id"], data["secret"], name)


async def start_chat(
    hub: Hub, *, topic: str = "general", text: str | None = None
) -> tuple[Any, str]:
    """A visitor starts a chat (queued: no agent takes it). Returns (visitor peer, id)."""
    visitor, _ = await hub.visitor()
    start: dict[str, Any] = {"type": "start", "topic": topic, "language": "en"}
    if text is not None:
        start["text"] = text
    queued = await visitor.request(start, expect="queued")
    return visitor, queued["conversation_id"]
