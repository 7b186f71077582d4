"""The HTTP API on a tiny app: roles, streaming, redaction switch and its audit entry.

The app is built here around the real routes and a real store (each of them); the hub context is a
small stand-in with the attributes the handlers use (`store`, `settings`, `authenticate`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from chatserver.analytics.figures import summary
from chatserver.settings import Settings
from chatserver.store import AgentRecord, Filters, Store, iso_now, open_store
from chatserver.web import analytics as routes

TOKENS = {"t-analyst": "analyst", "t-admin": "admin", "t-agent": "agent", "t-super": "supervisor"}


@dataclass
class Ctx:
    store: Store
    settings: Settings

    async def authenticate(self, token: str | None) -> AgentRecord | None:
        role = TOKENS.get(token or "")
        if role is None:
            return None
        return AgentRecord(
            id=f"id-{role}", username=role, display_name=role.title(), password_hash="!",
            skills={}, capacity=1, roles=(role,), created_at=iso_now(),  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.fixture
async def app(fresh_url: str, tmp_path: Path) -> AsyncIterator[Starlette]:
    store = open_store(fresh_url)
    await store.open()
    application = Starlette(routes=routes.routes())
    application.state.ctx = Ctx(store, Settings(data_dir=tmp_path))
    try:
        yield application
    finally:
        await store.close()


def client(app: Starlette, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=headers
    )


async def test_who_may_export(app: Starlette) -> None:
    async with client(app) as anonymous:
        r = await anonymous.get("/api/v1/export")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    for token in ("t-agent", "t-super"):
        async with client(app, token) as c:
            assert (await c.get("/api/v1/export")).status_code == 403
            assert (await c.get("/api/v1/analytics/summary")).status_code == 403
    async with client(app, "t-analyst") as c:
        r = await c.get("/api/v1/export", params={"redact": "false"})
        assert r.status_code == 403 and "admin" in r.json()["message"]
        assert (await c.get("/api/v1/analytics/audit")).status_code == 403


async def test_an_analyst_gets_a_redacted_csv(app: Starlette) -> None:
    async with client(app, "t-analyst") as c:
        r = await c.get(
            "/api/v1/export", params={"format": "csv", "shape": "conversations", "topic": "billing"}
        )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-export-cursor"].startswith(("v1.", "pg1."))
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {row["topic"] for row in rows} == {"billing"}
    assert all(row["visitor"].startswith("v_") for row in rows)
    assert "@example" not in r.text


async def test_bad_parameters_are_400(app: Starlette) -> None:
    async with client(app, "t-analyst") as c:
        for params in ({"format": "xml"}, {"since": "soon"}, {"after": "zzz"}, {"rating": "9"}):
            r = await c.get("/api/v1/export", params=params)
            assert r.status_code == 400, params
            assert r.json()["error"] == "bad_request"


async def test_an_admin_may_turn_redaction_off_and_it_is_audited(app: Starlette) -> None:
    async with client(app, "t-admin") as c:
        r = await c.get("/api/v1/export", params={"redact": "false", "topic": "account"})
        assert r.status_code == 200
        docs = [json.loads(line) for line in r.text.splitlines()]
        assert any("@" in (d["events"][0]["body"].get("email") or "") for d in docs)
        audit = (await c.get("/api/v1/analytics/audit")).json()["entries"]
    assert audit[0]["action"] == "export_unredacted"
    assert audit[0]["actor"] == "admin" and audit[0]["actor_id"] == "id-admin"
    assert audit[0]["details"]["filters"]["topic"] == "account"
    assert audit[0]["details"]["via"] == "http"


async def test_the_export_is_streamed_in_chunks(app: Starlette) -> None:
    """Driven at the ASGI level: the body arrives as many messages, not one."""
    bodies: list[bytes] = []
    more: list[bool] = []

    async def receive() -> Message:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message.get("body", b""))
            more.append(message.get("more_body", False))

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/v1/export", "raw_path": b"/api/v1/export",
        "query_string": b"format=jsonl", "root_path": "", "server": ("hub", 80),
        "client": ("127.0.0.1", 1), "headers": [(b"authorization", b"Bearer t-analyst")],
        "app": app,
    }  # fmt: skip
    await app(scope, receive, send)
    assert len([b for b in bodies if b]) > 10
    assert more[-1] is False and all(more[:-1])
    lines = b"".join(bodies).decode().splitlines()
    assert len(lines) == 600


async def test_summary_is_the_same_figures_as_the_cli(app: Starlette, fresh_url: str) -> None:
    async with client(app, "t-analyst") as c:
        r = await c.get(
            "/api/v1/analytics/summary", params={"topic": "technical", "terms": "false"}
        )
        assert r.status_code == 200
        page = await c.get("/api/v1/analytics/report", params={"since": "2026-03-03"})
        assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    with open_store(fresh_url).snapshot() as snap:
        want = summary(snap, Filters(topic="technical"), terms=False)
    got = r.json()
    for key in ("totals", "by_topic", "by_agent", "by_day", "tags"):
        assert got[key] == json.loads(json.dumps(want[key])), key
