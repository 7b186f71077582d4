"""A hub on the PostgreSQL store (``CHATSERVER_DATABASE_URL``): a visitor and an agent chat
once, and every acknowledged message is in PostgreSQL — none in a SQLite file. Analytics
(the export, the summary, the dashboard's charts, the analytics commands) reads it there.
PostgreSQL restarted mid-chat: a message meets ``unavailable``, sent again it is stored once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chatserver.cli import build_parser, main
from chatserver.core.accounts import hash_password
from chatserver.settings import SettingsError, from_environment
from chatserver.store import AgentRecord, iso_now
from chatserver.store.postgres import PostgresStore
from tests.chatserver.integration.conftest import PASSWORD, Hub
from tests.support.peer import Peer
from tests.support.postgres_server import PostgresServer


async def add_alice(url: str) -> None:
    async with PostgresStore(url) as store:
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


async def chat(hub: Hub) -> tuple[Peer, Peer, str]:
    """Alice online, a visitor's chat offered to her and accepted: (visitor, agent, id)."""
    agent, _ = await hub.agent("alice")
    visitor, _ = await hub.visitor()
    queued = await visitor.request(
        {"type": "start", "topic": "billing", "language": "en", "text": "Hello there"},
        expect="queued",
    )
    conv: str = queued["conversation_id"]
    offer = await agent.expect("offer")
    await agent.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    return visitor, agent, conv


async def test_a_hub_on_postgresql_chats_and_stores_there(hub: Hub, postgres_url: str) -> None:
    await add_alice(postgres_url)
    hub.env["CHATSERVER_DATABASE_URL"] = postgres_url
    server = hub.start_server()
    visitor, agent, conv = await chat(hub)
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
        export = await http.get(
            f"{server.http}/api/v1/export", params={"format": "jsonl"}, headers=bearer
        )
    assert summary.status_code == 200, summary.text
    assert summary.json()["totals"]["conversations"] == 1
    assert charts.status_code == 200, charts.text
    assert sum(r["conversations"] for r in charts.json()["days"]["rows"]) == 1
    assert audit.status_code == 200
    assert export.status_code == 200 and export.headers["x-export-cursor"].startswith("pg1.")
    (doc,) = [orjson.loads(line) for line in export.content.splitlines()]
    assert doc["conversation"]["conversation_id"] == conv
    texts = [e["body"].get("text") for e in doc["events"] if e["kind"] == "message"]
    assert texts == ["Hello there", "hi", "Hi!"]


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own, free to be killed and restarted."""
    with PostgresServer() as server:
        yield server


async def test_postgresql_restarted_mid_chat_unavailable_then_stored_once(
    hub: Hub, private_postgres: PostgresServer
) -> None:
    url = private_postgres.create_database("chat")
    await add_alice(url)
    hub.env["CHATSERVER_DATABASE_URL"] = url
    hub.start_server()
    visitor, agent, conv = await chat(hub)
    before = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "m-1", "text": "one"}
    )
    await agent.expect("message", client_id="m-1")

    private_postgres.kill()
    message: dict[str, Any] = {
        "type": "message", "conversation_id": conv, "client_id": "m-2", "text": "two",
    }  # fmt: skip
    refused = await visitor.request(dict(message), expect="error", timeout=15)
    assert refused["code"] == "unavailable"
    private_postgres.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:  # the client sends it again, as its outbox does, until it is acknowledged
        answer = await visitor.answer(dict(message), timeout=15)
        if answer["type"] == "ack":
            break
        assert answer["type"] == "error" and answer["code"] == "unavailable", answer
        assert loop.time() < deadline, "the hub never got its store back"
        await asyncio.sleep(0.2)
    assert answer["seq"] == before["seq"] + 1  # the refused attempts took no seq
    theirs = await agent.expect("message", client_id="m-2")
    assert theirs["seq"] == answer["seq"]
    again = await visitor.request(dict(message))  # once more: the same event, not a new one
    assert again["seq"] == answer["seq"]
    # barrier: a later message of the same conversation reaches the agent after any repeat of
    # m-2 would have; none came
    await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "a-9", "text": "ok"}
    )
    await agent.expect("message", client_id="a-9")
    assert not [f for f in agent.inbox if f.get("client_id") == "m-2"]
    async with PostgresStore(url) as store:
        texts = [e.body.get("text") for e in await store.events(conv) if e.kind == "message"]
    assert texts == ["Hello there", "one", "two", "ok"]


def test_the_database_setting(tmp_path: Path) -> None:
    assert from_environment({}, data_dir=tmp_path).database == tmp_path / "chat.db"
    url = "postgresql://chat:secret@db.example:5432/chat"
    assert from_environment({"CHATSERVER_DATABASE_URL": url}).database == url
    assert build_parser().parse_args(["serve", "--database", url]).database == url
    with pytest.raises(SettingsError, match="CHATSERVER_DATABASE_URL") as info:
        from_environment({"CHATSERVER_DATABASE_URL": "mysql://chat:secret@db.example/chat"})
    assert "secret" not in str(info.value)


def test_the_analytics_commands_work_on_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    postgres_url: str,
) -> None:
    asyncio.run(add_alice(postgres_url))
    monkeypatch.setenv("CHATSERVER_DATABASE_URL", postgres_url)
    data = ["--data", str(tmp_path)]
    assert main(["report", "--json", "--no-terms", *data]) == 0
    assert orjson.loads(capsys.readouterr().out)["totals"]["conversations"] == 0
    out = tmp_path / "export.jsonl"
    cursor = tmp_path / "cursor"
    assert main(["export", "--out", str(out), "--cursor-file", str(cursor), *data]) == 0
    assert out.read_bytes() == b"" and cursor.read_text().startswith("pg1.")
    assert main(["verify", str(out), *data]) == 0
    assert main(["purge", "--older-than", "30", "--dry-run", *data]) == 0
    assert "would delete 0 conversations" in capsys.readouterr().out
    assert main(["forget-visitor", "v-nobody", *data]) == 0
    assert main(["audit", "--json", *data]) == 0
    entries = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert entries[0]["action"] == "forget_visitor"
    # A SQLite cursor is refused by PostgreSQL, saying why.
    assert main(["export", "--after", "v1.10.0", *data]) == 2
    assert "printed by an export from a sqlite store" in capsys.readouterr().err
    assert not (tmp_path / "chat.db").exists()
