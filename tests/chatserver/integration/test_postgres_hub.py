"""A hub on the PostgreSQL store (``CHATSERVER_DATABASE_URL``): a visitor and an agent chat
once, and every acknowledged message is in PostgreSQL — none in a SQLite file. Analytics,
which reads a SQLite snapshot, answers 503 ``unavailable`` saying it is not there yet."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from chatserver.cli import build_parser, main
from chatserver.core.accounts import hash_password
from chatserver.settings import SettingsError, from_environment
from chatserver.store import AgentRecord, iso_now
from chatserver.store.postgres import PostgresStore
from tests.chatserver.integration.conftest import PASSWORD, Hub


async def test_a_hub_on_postgresql_chats_and_stores_there(hub: Hub, postgres_url: str) -> None:
    async with PostgresStore(postgres_url) as store:
        await store.add_agent(
            AgentRecord(
                id="a1", username="alice", display_name="Alice",
                password_hash=hash_password(PASSWORD), skills={"billing": 4, "en": 5},
                capacity=3, roles=("agent",), created_at=iso_now(),
            )
        )  # fmt: skip
        await store.add_agent(
            AgentRecord(
                id="a2", username="ann", display_name="Ann",
                password_hash=hash_password(PASSWORD), skills={}, capacity=0,
                roles=("analyst", "admin"), created_at=iso_now(),
            )
        )  # fmt: skip
    hub.env["CHATSERVER_DATABASE_URL"] = postgres_url
    server = hub.start_server()
    agent, _ = await hub.agent("alice")
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "billing", "language": "en", "text": "Hello there"},
        expect="queued",
    )
    conv = queued["conversation_id"]
    offer = await agent.expect("offer")
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    client_id = str(uuid.uuid4())
    ack = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": client_id, "text": "hi"}
    )
    theirs = await agent.expect("message", client_id=client_id)
    assert theirs["seq"] == ack["seq"]
    reply = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a-1", "text": "Hi!"}
    )
    assert (await visitor.expect("message", client_id="a-1"))["seq"] == reply["seq"]

    async with PostgresStore(postgres_url) as store:
        events = await store.events(conv)
        texts = [e.body.get("text") for e in events if e.kind == "message"]
        assert texts == ["Hello there", "hi", "Hi!"]
        assert {ack["seq"], reply["seq"]} <= {e.seq for e in events}
        record = await store.get_conversation(conv)
        assert record is not None and record.agent_id == "a1"
    assert not (hub.data_dir / "chat.db").exists()
    token = await hub.login("ann")
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as http:
        summary = await http.get(f"{server.http}/api/v1/analytics/summary", headers=bearer)
        charts = await http.get(f"{server.http}/api/v1/dashboard/charts", headers=bearer)
        audit = await http.get(f"{server.http}/api/v1/analytics/audit", headers=bearer)
    for r in (summary, charts):
        assert r.status_code == 503
        assert r.json()["error"] == "unavailable"
        assert "analytics on PostgreSQL is not available yet" in r.json()["message"]
    assert audit.status_code == 200  # the audit log is the store's, not a snapshot's


def test_the_database_setting(tmp_path: Path) -> None:
    assert from_environment({}, data_dir=tmp_path).database == tmp_path / "chat.db"
    url = "postgresql://chat:secret@db.example:5432/chat"
    assert from_environment({"CHATSERVER_DATABASE_URL": url}).database == url
    assert build_parser().parse_args(["serve", "--database", url]).database == url
    with pytest.raises(SettingsError, match="CHATSERVER_DATABASE_URL") as info:
        from_environment({"CHATSERVER_DATABASE_URL": "mysql://chat:secret@db.example/chat"})
    assert "secret" not in str(info.value)


def test_the_analytics_commands_refuse_a_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CHATSERVER_DATABASE_URL", "postgresql://db.example/chat")
    assert main(["report", "--data", str(tmp_path)]) == 2
    assert "with CHATSERVER_DATABASE_URL set it is not available yet" in capsys.readouterr().err
