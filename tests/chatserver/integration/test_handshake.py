"""What the hub's server keeps and says around the WebSocket handshake, through a real server."""

from __future__ import annotations

import httpx
from websockets.asyncio.client import connect

from tests.chatserver.integration.conftest import Hub
from tests.support.peer import Peer


async def test_no_server_header_on_the_handshake_or_http(hub: Hub) -> None:
    hub.start_server()
    async with connect(f"{hub.server.ws}/ws/visitor", open_timeout=5) as ws:
        assert ws.response is not None and ws.response.status_code == 101
        assert "server" not in ws.response.headers
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{hub.server.http}/readyz")
    assert r.status_code == 200 and "server" not in r.headers


async def test_origin_is_checked_after_the_headers_are_dropped(hub: Hub) -> None:
    # The endpoint keeps only Origin and Host from the handshake: a hello that comes later
    # still gets the check, and the hub's own origin (from Host) still passes it.
    hub.start_server()
    evil = await Peer(f"{hub.server.ws}/ws/visitor", origin="https://evil.example").connect()
    hub.peers.append(evil)
    own = await Peer(f"{hub.server.ws}/ws/visitor", origin=hub.server.http).connect()
    hub.peers.append(own)
    await evil.send("not json")  # unreadable before the hello: bad_frame, the socket stays
    assert (await evil.expect("error"))["code"] == "bad_frame"
    await own.send({"type": "hello", "token": None})
    await own.expect("welcome")
    await evil.send({"type": "hello", "token": None})
    assert await evil.wait_closed(5) == 4403
    # A second hello on the accepted socket is a conflict, not a fresh origin check.
    await own.send({"type": "hello", "token": None, "ref": "again"})
    error = await own.expect("error")
    assert error["code"] == "conflict" and error["ref"] == "again"
