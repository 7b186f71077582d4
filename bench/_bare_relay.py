"""The ceiling of our stack: a bare Starlette WebSocket relay, served exactly as the hub is.

Same uvicorn settings as ``chatserver serve`` (its WebSocket protocol — ``websockets-sansio``
with a high-water mark, ``chatserver/web/wsprotocol.py`` — per-message deflate off,
64 KiB frames, the same keepalive pings, no proxy headers, no Server header, no access log), and nothing of the hub: no routing, auth, persistence, Redis or
per-connection writer task. Each connection joins one or more rooms; a ``message`` frame is
answered with an ``ack`` to its sender and forwarded verbatim to the other members of its room.

    client → {"type":"join","conversation_id":C}                     ← {"type":"joined",…}
    client → {"type":"message","conversation_id":C,"client_id":K,…}  ← {"type":"ack","client_id":K}
                                                                     → the frame, to C's others

The hub sends one frame more per message (it echoes the message to its sender as well), does
the checks, the commit, the routing bookkeeping and the cross-process publish; that difference
is what the relay benchmark's ratio measures.

Run: ``python -m bench._bare_relay --port P`` (``GET /readyz`` answers 200 once it listens).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from chatserver.cli import WS_PING_INTERVAL_S, WS_PING_TIMEOUT_S
from chatserver.web.wsprotocol import HubWebSocketProtocol

ROOMS: defaultdict[str, list[WebSocket]] = defaultdict(list)


async def relay(websocket: WebSocket) -> None:
    await websocket.accept()
    joined: list[str] = []
    try:
        while True:
            text = await websocket.receive_text()
            frame = orjson.loads(text)
            room = ROOMS[frame["conversation_id"]]
            if frame["type"] == "message":
                await websocket.send_text(
                    orjson.dumps({"type": "ack", "client_id": frame["client_id"]}).decode()
                )
                for peer in room:
                    if peer is not websocket:
                        await peer.send_text(text)
            elif frame["type"] == "join":
                room.append(websocket)
                joined.append(frame["conversation_id"])
                await websocket.send_text(
                    orjson.dumps(
                        {"type": "joined", "conversation_id": frame["conversation_id"]}
                    ).decode()
                )
    except (WebSocketDisconnect, RuntimeError):
        pass  # RuntimeError: a send raced the peer's close
    finally:
        for cid in joined:
            members = ROOMS.get(cid)
            if members is not None and websocket in members:
                members.remove(websocket)
                if not members:
                    del ROOMS[cid]


async def readyz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/readyz", readyz), WebSocketRoute("/ws", relay)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._bare_relay")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The settings of chatserver/cli.py `serve`, less what only the hub has (lifespan, grace).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ws=HubWebSocketProtocol,
        ws_max_size=65536,
        ws_per_message_deflate=False,
        ws_ping_interval=WS_PING_INTERVAL_S,
        ws_ping_timeout=WS_PING_TIMEOUT_S,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
