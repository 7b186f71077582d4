"""Operations: SIGTERM, the agents CLI, /metrics, /healthz and /readyz, the private Redis."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import httpx

from tests.chatserver.integration.conftest import PASSWORD, Hub, add_agent
from tests.chatserver.integration.helpers import open_chat
from tests.support.redis_server import free_port
from tests.support.server import ServerProcess, run_cli
from tests.support.stores import store_env


async def test_sigterm_closes_1012_and_loses_nothing_acked(hub: Hub) -> None:
    await add_agent(hub.data_dir, "nina")
    fast = {"CHATSERVER_RATE_PER_S": "1000", "CHATSERVER_RATE_BURST": "1000"}
    first = hub.start_server(**fast)
    second = hub.start_server(**fast)
    agent, _ = await hub.agent("nina", server=second)
    visitor, token, conv = await open_chat(hub, agent, server=first)
    for i in range(20):
        await visitor.send(
            {
                "type": "message",
                "conversation_id": conv,
                "client_id": f"m{i}",
                "text": str(i),
                "ref": f"m{i}",
            }
        )
    await asyncio.sleep(0.05)
    code = first.terminate()
    assert code == 0
    assert await visitor.wait_closed(10) == 1012
    acks = [f for f in visitor.inbox if f.get("type") == "ack"]
    assert acks, "some messages were acked before the shutdown"
    # Everything acked is in the transcript; the rest is re-sent with the same client_id.
    visitor2, _ = await hub.visitor(token=token, server=second)
    await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
    )
    stored = {f["client_id"]: f["seq"] for f in visitor2.inbox if f.get("type") == "message"}
    for ack in acks:
        assert stored[ack["client_id"]] == ack["seq"]
    for i in range(20):
        again = await visitor2.request(
            {"type": "message", "conversation_id": conv, "client_id": f"m{i}", "text": str(i)}
        )
        if f"m{i}" in stored:
            assert again["seq"] == stored[f"m{i}"]
    await visitor2.request(
        {"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed"
    )
    ids = [
        f["client_id"]
        for f in visitor2.inbox
        if f.get("type") == "message" and f["client_id"] and f["client_id"].startswith("m")
    ]
    # Two full passes (the first resume and the second), each with m0..m19 exactly once.
    assert sorted(ids) == sorted([f"m{i}" for i in range(20)] * 2)


def test_agents_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run_cli(
        data,
        "agents",
        "add",
        "zoe",
        "--password-stdin",
        "--skills",
        "billing:5,en:3",
        "--capacity",
        "4",
        "--role",
        "agent",
        "--role",
        "supervisor",
        "--display-name",
        "Zoe Z",
        stdin="s3cret-pass\n",
    )
    assert r.returncode == 0, r.stderr
    r = run_cli(
        data,
        "agents",
        "add",
        "zoe",
        "--password-stdin",
        "--skills",
        "billing:5",
        stdin="s3cret-pass\n",
    )
    assert r.returncode == 2 and "zoe" in r.stderr
    for bad in ("billing", "billing:9", "billing:x", ""):
        r = run_cli(
            data, "agents", "add", "yan", "--password-stdin", "--skills", bad, stdin="s3cret-pass\n"
        )
        assert r.returncode == 2 and "skill" in r.stderr, (bad, r.stderr)
    r = run_cli(
        data, "agents", "add", "yan", "--password-stdin", "--skills", "en:1", stdin="short\n"
    )
    assert r.returncode == 2 and "8 characters" in r.stderr
    r = run_cli(data, "agents", "list", "--json")
    rows = json.loads(r.stdout)
    assert [
        (a["username"], a["skills"], a["capacity"], a["roles"], a["disabled"]) for a in rows
    ] == [("zoe", {"billing": 5, "en": 3}, 4, ["agent", "supervisor"], False)]
    r = run_cli(data, "agents", "set", "zoe", "--capacity", "2", "--skills", "account:2")
    assert r.returncode == 0, r.stderr
    r = run_cli(data, "agents", "set", "ghost", "--capacity", "2")
    assert r.returncode == 2 and "ghost" in r.stderr
    r = run_cli(data, "agents", "disable", "zoe")
    assert r.returncode == 0
    rows = json.loads(run_cli(data, "agents", "list", "--json").stdout)
    assert (
        rows[0]["capacity"] == 2
        and rows[0]["skills"] == {"account": 2}
        and rows[0]["disabled"] is True
    )


async def test_disabled_agent_cannot_sign_in_and_password_change_revokes(hub: Hub) -> None:
    await add_agent(hub.data_dir, "omar")
    await add_agent(hub.data_dir, "pia")
    hub.start_server()
    token = await hub.login("omar")
    r = run_cli(
        hub.data_dir, "agents", "set", "omar", "--password-stdin", stdin="another-password\n"
    )
    assert r.returncode == 0, r.stderr
    async with httpx.AsyncClient() as http:
        assert (
            await http.get(
                f"{hub.server.http}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
            )
        ).status_code == 401
        ok = await http.post(
            f"{hub.server.http}/api/v1/auth/login",
            json={"username": "omar", "password": "another-password"},
        )
        assert ok.status_code == 200
        # A script keeps no session cookie (with one, writes need an Origin: docs/security.md).
        http.cookies.clear()
        run_cli(hub.data_dir, "agents", "disable", "pia")
        r2 = await http.post(
            f"{hub.server.http}/api/v1/auth/login", json={"username": "pia", "password": PASSWORD}
        )
        assert r2.status_code == 401


async def test_metrics_health_ready(hub: Hub) -> None:
    await add_agent(hub.data_dir, "quinn")
    hub.start_server()
    agent, _ = await hub.agent("quinn")
    visitor, _, conv = await open_chat(hub, agent)
    await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "m", "text": "x"}
    )
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{hub.server.http}/healthz")
        ready = await http.get(f"{hub.server.http}/readyz")
        metrics = (await http.get(f"{hub.server.http}/metrics")).text
    assert health.status_code == 200 and ready.status_code == 200
    assert ready.json()["redis"] == "ok" and ready.json()["store"] == "ok"
    for name in (
        'chat_connections{role="visitor"} 1.0',
        'chat_connections{role="agent"} 1.0',
        "chat_ack_latency_seconds_count 1.0",
        'chat_offers_total{outcome="accepted"} 1.0',
        "chat_store_append_seconds_bucket",
        'chat_frames_received_total{role="visitor",type="message"} 1.0',
        "chat_queue_waiting",
    ):
        assert name in metrics, name


async def test_readyz_fails_when_redis_is_gone(make_hub, private_redis) -> None:  # type: ignore[no-untyped-def]
    hub: Hub = make_hub(private_redis)
    hub.start_server()
    try:
        private_redis.kill()
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{hub.server.http}/healthz")).status_code == 200
            r = await http.get(f"{hub.server.http}/readyz")
        assert r.status_code == 503 and r.json()["redis"] != "ok"
    finally:
        private_redis.start()
        await hub.close()


def test_serve_starts_a_private_redis_and_demo_accounts(tmp_path: Path) -> None:
    data = tmp_path / "d"
    server = ServerProcess(data, None, demo=True)
    server.start()
    try:
        out = server.output()
        assert "admin" in out and "agent" in out and "password" in out
        for path in ("/demo", "/console", "/dashboard"):
            assert f"{server.http}{path}\n" in out, path
        # The printed admin password opens the dashboard: a new user gets from the first
        # run's output to a working page.
        admin_password = re.search(r"admin\s+password (\S+)", out)
        assert admin_password is not None, out
        with httpx.Client(base_url=server.http) as http:
            signed = http.post(
                "/api/v1/auth/login",
                json={"username": "admin", "password": admin_password.group(1)},
            )
            assert signed.status_code == 200, signed.text
            assert http.get("/demo").status_code == 200
            dashboard = http.get("/dashboard")
            assert dashboard.status_code == 200 and "Dashboard" in dashboard.text
        # The command it prints to change a password works as printed, from another folder.
        printed = re.search(r"^  (.+) agents set USERNAME --password-stdin$", out, re.MULTILINE)
        assert printed is not None, out
        changed = subprocess.run(
            f"{printed.group(1)} agents set agent --password-stdin",
            shell=True,
            input="a new password 1\n",
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, **store_env(data)},  # the shell's CHATSERVER_DATABASE_URL, if any
            timeout=60,
        )
        assert changed.returncode == 0, changed.stderr
        with httpx.Client(base_url=server.http) as http:
            login = {"username": "agent", "password": "a new password 1"}
            assert http.post("/api/v1/auth/login", json=login).status_code == 200
        assert (data / "redis.sock").exists()
        assert httpx.get(f"{server.http}/readyz").json()["redis"] == "ok"
        # A second process on the same data folder shares that Redis.
        other = ServerProcess(data, None, port=free_port())
        other.start()
        other.stop()
        assert httpx.get(f"{server.http}/readyz").status_code == 200
    finally:
        server.stop()
    assert not (data / "redis.sock").exists()
    # The demo accounts are printed once: a second start says nothing of passwords.
    again = ServerProcess(data, None, demo=True)
    again.start()
    again.stop()
    assert "password" not in again.output()


def test_serve_refuses_a_bad_routing_file(tmp_path: Path) -> None:
    bad = tmp_path / "routing.toml"
    bad.write_text(
        "[topics.billing]\nrelax = [{after_s = 60}, {after_s = 30, language_level = 1}]\n"
    )
    r = run_cli(tmp_path / "d", "serve", "--port", "1", "--routing-config", str(bad))
    assert r.returncode == 2, r.stderr
    assert "topics.billing.relax" in r.stderr
    assert not (tmp_path / "d" / "redis.sock").exists()
