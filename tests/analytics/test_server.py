"""End to end on the real hub process: the analytics routes as the app mounts them, signed in
through the real login, streamed over a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chatserver.integration.conftest import PASSWORD, add_agent
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess


@pytest.fixture
def server(fresh_store: Path, redis_server: RedisServer) -> Iterator[ServerProcess]:
    proc = ServerProcess(fresh_store.parent, redis_server.url)
    yield proc
    proc.stop()


async def login(base: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base) as c:
        r = await c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        r.raise_for_status()
        token: str = r.json()["token"]
        return token


async def test_export_and_summary_on_the_running_hub(
    server: ServerProcess, fresh_store: Path
) -> None:
    await add_agent(fresh_store.parent, "ana", roles=("analyst",))
    await add_agent(fresh_store.parent, "root", roles=("admin",))
    await add_agent(fresh_store.parent, "sam", roles=("agent",))
    server.start()
    ana, root, sam = [await login(server.http, u) for u in ("ana", "root", "sam")]
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as c:
        bearer = {"Authorization": f"Bearer {ana}"}
        chunks = 0
        body = b""
        async with c.stream("GET", "/api/v1/export", headers=bearer) as r:
            assert r.status_code == 200
            assert r.headers.get("transfer-encoding") == "chunked"
            cursor = r.headers["x-export-cursor"]
            async for chunk in r.aiter_raw():
                chunks += 1
                body += chunk
        assert chunks > 1
        assert len(body.splitlines()) == 600
        r = await c.get("/api/v1/export", params={"after": cursor}, headers=bearer)
        assert r.status_code == 200 and r.content == b""
        r = await c.get("/api/v1/analytics/summary", params={"terms": "false"}, headers=bearer)
        assert r.status_code == 200 and r.json()["totals"]["conversations"] == 600
        denied = await c.get("/api/v1/export", headers={"Authorization": f"Bearer {sam}"})
        assert denied.status_code == 403
        r = await c.get(
            "/api/v1/export",
            params={"redact": "false", "format": "csv", "shape": "conversations"},
            headers={"Authorization": f"Bearer {root}"},
        )
        assert r.status_code == 200 and "@example" in r.text
        audit = await c.get("/api/v1/analytics/audit", headers={"Authorization": f"Bearer {root}"})
    entry = audit.json()["entries"][0]
    assert (entry["action"], entry["actor"]) == ("export_unredacted", "root")
    assert json.dumps(entry["details"]["filters"])
