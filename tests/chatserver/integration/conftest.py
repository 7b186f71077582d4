from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver.core.accounts import hash_password
from chatserver.store.base import AgentRecord, iso_now
from tests.support.peer import Peer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess
from tests.support.stores import open_test_store

PASSWORD = "correct horse battery"


async def add_agent(
    data_dir: Path,
    username: str,
    *,
    skills: dict[str, int] | None = None,
    capacity: int = 3,
    roles: tuple[str, ...] = ("agent",),
    display_name: str | None = None,
) -> str:
    store = open_test_store(data_dir)
    await store.open()
    try:
        agent_id = uuid.uuid4().hex
        await store.add_agent(
            AgentRecord(
                id=agent_id,
                username=username,
                display_name=display_name or username.title(),
                password_hash=hash_password(PASSWORD),
                skills=skills
                or {"general": 3, "billing": 3, "account": 3, "technical": 3, "en": 5, "es": 3},
                capacity=capacity,
                roles=roles,  # type: ignore[arg-type]
                disabled=False,
                created_at=iso_now(),
            )
        )
        return agent_id
    finally:
        await store.close()


class Hub:
    """One or more server processes sharing a Redis and a data folder."""

    def __init__(
        self, data_dir: Path, redis: RedisServer, env: dict[str, str], redis_url: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.redis = redis
        self.env = env
        #: Where the hub processes reach Redis, if not at ``redis.url`` (a proxy a test can cut).
        self.redis_url = redis_url
        self.servers: list[ServerProcess] = []
        self.peers: list[Peer] = []

    def start_server(self, **env: str) -> ServerProcess:
        server = ServerProcess(
            self.data_dir,
            self.redis_url or self.redis.url,
            env={**self.env, **env},
            node_id=f"n{len(self.servers)}",
        )
        server.start()
        self.servers.append(server)
        return server

    @property
    def server(self) -> ServerProcess:
        return self.servers[0]

    async def login(
        self, username: str, password: str = PASSWORD, server: ServerProcess | None = None
    ) -> str:
        s = server or self.server
        async with httpx.AsyncClient() as http:
            r = await http.post(
                f"{s.http}/api/v1/auth/login", json={"username": username, "password": password}
            )
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token

    async def visitor(
        self, token: str | None = None, server: ServerProcess | None = None, **hello: Any
    ) -> tuple[Peer, dict[str, Any]]:
        s = server or self.server
        peer = await Peer(f"{s.ws}/ws/visitor").connect()
        self.peers.append(peer)
        await peer.send({"type": "hello", "token": token, **hello})
        welcome = await peer.expect("welcome")
        return peer, welcome

    async def agent(
        self, username: str, server: ServerProcess | None = None, *, online: bool = True
    ) -> tuple[Peer, dict[str, Any]]:
        s = server or self.server
        token = await self.login(username, server=s)
        peer = await Peer(f"{s.ws}/ws/agent").connect()
        self.peers.append(peer)
        await peer.send({"type": "hello", "token": token})
        welcome = await peer.expect("welcome")
        if online:
            await peer.request({"type": "status", "status": "online"})
        return peer, welcome

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()
        for server in self.servers:
            server.stop()


@pytest.fixture
def hub_env() -> dict[str, str]:
    return {"CHATSERVER_REDIS_PREFIX": "{t" + secrets.token_hex(3) + "}"}


@pytest.fixture
async def hub(
    tmp_path: Path, redis_server: RedisServer, hub_env: dict[str, str]
) -> AsyncIterator[Hub]:
    h = Hub(tmp_path / "data", redis_server, hub_env)
    (tmp_path / "data").mkdir()
    try:
        yield h
    finally:
        await h.close()
        for s in h.servers:
            if "Traceback" in s.output():
                print(s.output())


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[Callable[[RedisServer], Hub]]:
    made: list[Hub] = []

    def factory(redis: RedisServer) -> Hub:
        h = Hub(tmp_path / f"data{len(made)}", redis, {"CHATSERVER_REDIS_PREFIX": "{cs}"})
        h.data_dir.mkdir()
        made.append(h)
        return h

    yield factory
