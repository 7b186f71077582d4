"""Webhooks end to end: real hub processes send to a real HTTP receiver (tests/support/receiver.py)
on loopback, which the hub may reach only because these tests allow 127.0.0.0/8."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chatserver.store import WEBHOOK_TYPES
from tests.admin.conftest import ADMIN, api
from tests.chatserver.integration.conftest import Hub, add_agent, hub, hub_env
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess

__all__ = ["hub", "hub_env"]

#: What every hub here runs with: loopback allowed, quick polls and retries, a 1 s timeout.
FAST = {
    "CHATSERVER_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "CHATSERVER_WEBHOOK_POLL_S": "0.1",
    "CHATSERVER_WEBHOOK_RETRY_BASE_S": "0.3",
    "CHATSERVER_WEBHOOK_TIMEOUT_S": "1",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


async def start(hub: Hub, servers: int = 1, **env: str) -> list[ServerProcess]:
    """An admin (``root``) and an agent (``ann``, every shipped skill), then the processes."""
    await add_agent(hub.data_dir, ADMIN, display_name="Rosa Admin", roles=("admin", "supervisor"))
    await add_agent(hub.data_dir, "ann", display_name="Ann Lee")
    return [hub.start_server(**{**FAST, **env}) for _ in range(servers)]


async def endpoint(
    server: ServerProcess, token: str, url: str, events: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    r = await api(
        server,
        "POST",
        "/api/v1/admin/webhooks",
        token=token,
        json={"url": url, "events": events or ALL, **extra},
    )
    assert r.status_code == 201, r.text
    webhook: dict[str, Any] = r.json()["webhook"]
    return webhook


ALL = list(WEBHOOK_TYPES)
