"""Slow and greedy clients cannot stall the hub (chatserver.web.connections): silent and
slow-header sockets are closed at the header deadline; one address cannot hold more than its
share of connections, and the extra ones get a clear 503; with the open-file limit lowered to
1,024 (as in the report: 1,050 silent sockets took every descriptor and /healthz timed out for a
minute while the log grew by 616 MB), another address's /healthz still answers at once and the
log stays quiet."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from pathlib import Path

import httpx
import pytest

from tests.chatserver.integration.conftest import Hub
from tests.support.peer import Peer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess


async def open_silent(
    port: int, address: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing, within ``seconds`` (TimeoutError otherwise)."""
    return await asyncio.wait_for(reader.read(), seconds)


async def healthz_from(server: ServerProcess, address: str) -> tuple[int, float]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        started = time.perf_counter()
        r = await http.get(f"{server.http}/healthz")
        return r.status_code, time.perf_counter() - started


async def test_silent_and_slow_header_sockets_are_closed_at_the_deadline(hub: Hub) -> None:
    server = hub.start_server(CHATSERVER_HEADER_TIMEOUT_S="1")
    silent_r, silent_w = await open_silent(server.port)
    slow_r, slow_w = await open_silent(server.port)
    started = time.monotonic()

    async def drip() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":
            slow_w.write(bytes([byte]))
            await slow_w.drain()
            await asyncio.sleep(0.2)

    dripping = asyncio.create_task(drip())
    assert await closed_within(silent_r, 3) == b""
    assert await closed_within(slow_r, 3) == b""
    assert time.monotonic() - started < 2.5
    dripping.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await dripping
    for w in (silent_w, slow_w):
        w.close()
    # A request that comes in time is served, and its kept-alive connection serves another.
    async with httpx.AsyncClient(base_url=server.http) as http:
        first = await http.get("/healthz")
        second = await http.get("/healthz")
        assert first.status_code == second.status_code == 200


async def test_one_address_gets_its_share_then_a_clear_503(hub: Hub) -> None:
    server = hub.start_server(CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS="20")
    held = [await open_silent(server.port) for _ in range(20)]
    reader, writer = await open_silent(server.port)
    answer = await closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable")
    assert b"Retry-After: 5" in answer and b"too many connections from your address" in answer
    writer.close()
    status, _ = await healthz_from(server, "127.0.0.2")
    assert status == 200
    # Closing some gives the address its room back.
    for _r, w in held[:5]:
        w.close()
        await w.wait_closed()
    # The hub notices the closes as it reads: within a round trip or two.
    statuses = [(await healthz_from(server, "127.0.0.1"))[0] for _ in range(3)]
    assert 200 in statuses, statuses
    for _r, w in held[5:]:
        w.close()


@pytest.mark.slow
async def test_1050_silent_sockets_under_1024_descriptors(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    server = ServerProcess(tmp_path / "data", redis_server.url, open_files=1024)
    server.start()
    sockets: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(1050):
            sockets.append(await open_silent(server.port))
        refused = 0
        for reader, _w in sockets:
            try:
                answer = await asyncio.wait_for(reader.read(200), 0.05)
            except TimeoutError:
                continue
            refused += answer.startswith(b"HTTP/1.1 503")
        # 1,024 descriptors: 896 connections in all, a quarter of them (224) per address.
        assert refused == 1050 - 224, refused
        status, took = await healthz_from(server, "127.0.0.2")
        assert status == 200 and took < 1.0, took
        log = server.log_path.read_text(errors="replace")
        assert "out of system resource" not in log
        assert len(log) < 200_000
    finally:
        for _r, w in sockets:
            w.close()
        server.stop()


async def test_websockets_count_against_the_share_and_give_it_back(hub: Hub) -> None:
    server = hub.start_server(CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS="10")
    peers = [await Peer(f"{server.ws}/ws/visitor").connect() for _ in range(10)]
    reader, writer = await open_silent(server.port)
    assert (await closed_within(reader, 5)).startswith(b"HTTP/1.1 503")
    writer.close()
    for peer in peers:
        await peer.close()
    statuses = [(await healthz_from(server, "127.0.0.1"))[0] for _ in range(3)]
    assert 200 in statuses, statuses
