"""The two WebSocket endpoints: thin adapters between a socket and the sans-I/O protocol.

Each connection: accept, then loop — receive a frame, feed it to `ProtocolConnection`, send
what it produced, dispatch the commands it parsed to the core (`chatserver.core.service`),
close when it asks. What the hello may do (origin, site, the rate of new visitors) is checked
here; who the token belongs to and what the welcome says come from the core. Sending
goes through the client's bounded queue and its writer task (made on the first frame, gone
while the connection is idle), never straight to the socket.

An idle connection's memory is mostly the server stack's (uvicorn keeps its protocol object,
the scope and the handshake for the socket's whole life); what the hub holds on top is kept
small: the handshake's headers are read once (the origin check needs two of them) and then
dropped from the scope, and the endpoints hand `run_connection`'s coroutine to the caller
instead of awaiting it in a frame of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

import routing
from chatserver import protocol as p
from chatserver.clock import parse_ts
from chatserver.context import HubContext
from chatserver.core.delivery import Client
from chatserver.store.base import StoreError
from chatserver.web.client_address import client_address
from chatserver.web.cross_site import own_origin, staff_origins

log = logging.getLogger("chatserver.ws")


class Handshake:
    """What the hello needs from the handshake: ``Origin``, ``Host`` and the client's address."""

    __slots__ = ("address", "host", "origin")

    def __init__(self, origin: str | None, host: str | None, address: str = "unknown") -> None:
        self.origin = origin
        self.host = host
        self.address = address

    @classmethod
    def take(cls, scope: Any, trusted_proxies: tuple[str, ...] = ()) -> Handshake:
        """Read the two headers and the address, then drop the scope's header list: uvicorn
        keeps the scope for the connection's life and nothing reads the headers after the
        hello (≈ 0.9 KiB)."""
        origin = host = None
        for name, value in scope.get("headers", ()):
            name = name.lower()  # lower already under uvicorn (ASGI), but not promised by all
            if name == b"origin" and origin is None:
                origin = value.decode("latin-1")
            elif name == b"host" and host is None:
                host = value.decode("latin-1")
        address = client_address(scope, trusted_proxies)
        scope["headers"] = ()  # still an iterable of pairs, as ASGI has it, and shared
        return cls(origin, host, address)


async def run_connection(websocket: WebSocket, role: str) -> None:
    ctx: HubContext = websocket.app.state.ctx
    settings = ctx.settings
    handshake: Handshake | None = Handshake.take(websocket.scope, settings.trusted_proxies)
    await websocket.accept()

    client = Client(
        role,
        websocket.send_text,
        websocket.close,  # a failing close ends the writer like a failing send: logged, closed
        queue_frames=settings.send_queue_frames,
        on_overflow=ctx.metrics.slow_clients.inc,
    )
    ctx.hub.add_client(client)
    ctx.metrics.connections.labels(role).inc()
    opened = time.time()
    proto = p.ProtocolConnection(role, ctx.limits, created_at=opened)  # type: ignore[arg-type]
    peer_gone = False
    try:
        while client.is_open:
            if proto.state is p.State.AWAITING_HELLO:
                timeout = max(0.0, opened + settings.hello_timeout_s - time.time()) + 0.01
                try:
                    message = await asyncio.wait_for(websocket.receive(), timeout)
                except TimeoutError:
                    proto.check_timeouts(time.time())
                    if _close_if_requested(proto, client):
                        break
                    continue
            else:  # no timer (and no wait_for wrapper) per frame once the hello is in
                message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                peer_gone = True
                break
            # The frame is handled in `_feed`, so that what it parsed and sent goes with that
            # call: waiting for the next frame, this one holds no message, text or command.
            stop = await _feed(ctx, handshake, client, proto, _payload(message))
            del message
            if handshake is not None and proto.state is not p.State.AWAITING_HELLO:
                handshake = None  # the hello is done with it
            if stop:
                break
    except WebSocketDisconnect:
        peer_gone = True
    finally:
        log.info(
            "connection closed",
            extra={
                "role": role,
                "visitor_id": client.visitor_id,
                "agent_id": client.agent_id,
                "code": client.close_code,
                "seconds": round(time.time() - opened, 1),
            },
        )
        ctx.metrics.connections.labels(role).dec()
        await ctx.hub.remove_client(client)
        # Stopping: the agents were taken offline before the sockets closed (and may be back
        # on another process by now).
        if (
            client.agent_id is not None
            and not ctx.hub.has_agent(client.agent_id)
            and not ctx.stopping
        ):
            try:
                await ctx.router.set_status(client.agent_id, "offline", time.time())
            except (RedisError, routing.RoutingError) as exc:
                log.warning(
                    "could not mark agent offline",
                    extra={"agent_id": client.agent_id, "error": repr(exc)},
                )
        await client.finish(peer_gone=peer_gone)


def _payload(message: Any) -> str | bytes:
    text: str | None = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def _feed(
    ctx: HubContext,
    handshake: Handshake | None,
    client: Client,
    proto: p.ProtocolConnection,
    data: str | bytes,
) -> bool:
    """Handle one frame from the client: True when the connection is to close."""
    proto.receive_text(data, time.time())
    for frame in proto.data_to_send():
        client.send(frame)
    for command in proto.commands_received():
        ctx.metrics.frame_in(client.role, command.TYPE).inc()
        await dispatch(ctx, handshake, client, proto, command)
        for frame in proto.data_to_send():
            client.send(frame)
        if proto.close_requested():
            break
    return _close_if_requested(proto, client)


def _close_if_requested(proto: p.ProtocolConnection, client: Client) -> bool:
    request = proto.close_requested()
    if request is None:
        return False
    code, reason = request
    client.begin_close(int(code), reason)
    return True


async def dispatch(
    ctx: HubContext,
    handshake: Handshake | None,
    client: Client,
    proto: p.ProtocolConnection,
    command: Any,
) -> None:
    ref = getattr(command, "ref", None)
    try:
        if isinstance(command, p.Hello):
            if handshake is None:  # the protocol answers a second hello itself: fail closed
                raise p.Conflict("the connection has already said hello")
            await hello(ctx, handshake, client, proto, command)
            return
        if isinstance(command, p.Ping):
            client.send(p.frames.pong(ref))
            return
        handler = ctx.service.handler(client.role, type(command))
        if handler is None:
            raise p.BadFrame(f"{type(command).__name__.lower()} is not handled on this connection")
        await handler(client, command)
    except p.ProtocolError as exc:
        ctx.metrics.errors.labels(exc.code).inc()
        client.send(p.frames.error(exc.code, exc.message, ref))
        if exc.code == "unauthorized":  # the error first, then 4401 (docs/protocol.md)
            client.begin_close(p.CloseCode.NOT_AUTHENTICATED, exc.message)
    except routing.RoutingError as exc:
        code = getattr(exc, "code", "conflict")
        ctx.metrics.errors.labels(code).inc()
        client.send(p.frames.error(code, str(exc), ref))
    except (StoreError, RedisError, OSError) as exc:
        log.warning("backend unavailable", extra={"error": repr(exc)})
        ctx.metrics.errors.labels("unavailable").inc()
        client.send(
            p.frames.error(
                "unavailable", "the hub cannot reach its store or Redis; retry shortly", ref
            )
        )
    except Exception:
        log.exception("command failed", extra={"command": type(command).__name__})
        ctx.metrics.errors.labels("internal").inc()
        client.send(p.frames.error("internal", "internal error; the command was not applied", ref))


async def hello(
    ctx: HubContext, handshake: Handshake, client: Client, proto: p.ProtocolConnection, cmd: p.Hello
) -> None:
    visitors = ctx.service.visitors
    if client.role == "visitor":
        site = cmd.site or ctx.settings.default_site
        allowed = ctx.settings.origins_for(site)
        origin = handshake.origin
        if allowed is None:
            proto.close(p.CloseCode.FORBIDDEN, f"unknown site {site!r}")
            return
        if origin is not None:
            # The widget's chat frame is served by the hub, so its socket always comes from the
            # hub's own origin (and the frame's CSP frame-ancestors keeps other sites from
            # embedding it); pages of the site's own origins may connect directly.
            ok = origin in allowed or origin in own_origin(handshake.host, ctx.settings.public_url)
            if not ok:
                proto.close(
                    p.CloseCode.FORBIDDEN, f"origin {origin} is not allowed for site {site!r}"
                )
                return
        now = time.time()
        if cmd.token is None:
            if not ctx.new_visitors.allow(handshake.address, now):
                proto.close(p.CloseCode.RATE_LIMITED, "too many new visitors from your address")
                return
            created = visitors.new_visitor(client, site, now)
            visitor_id, token = created.id, created.token
        else:
            known = await visitors.known_visitor(cmd.token)
            if known is None:
                proto.hello_rejected()
                return
            visitor_id, token = known, cmd.token
        client.visitor_id = visitor_id
        proto.hello_accepted()
        ctx.hub.identify(client)
        await visitors.welcome(client, visitor_id, token, cmd.ref)
        return
    origin = handshake.origin
    settings = ctx.settings
    if origin is not None and origin not in staff_origins(
        handshake.host, settings.public_url, settings.staff_origins
    ):
        # A page of another origin may not drive an agent's socket (apps send no Origin).
        proto.close(p.CloseCode.FORBIDDEN, f"origin {origin} may not open an agent connection")
        return
    signed_in = await ctx.session(cmd.token)
    if signed_in is None:
        proto.hello_rejected()
        return
    agent, session = signed_in
    expires = parse_ts(session.expires_at) if session.expires_at else None
    ctx.sessions.add(client, session.token_hash, expires)
    client.agent = agent
    proto.hello_accepted()
    ctx.hub.identify(client)
    await ctx.service.agents.welcome(client, cmd.ref)


# Plain functions returning the connection's coroutine: an `async def` wrapper would keep one
# more frame on every idle connection's stack. Both callers (`HubApp`, Starlette's
# `WebSocketRoute`) await what the endpoint returns.
def visitor_endpoint(websocket: WebSocket) -> Coroutine[Any, Any, None]:
    return run_connection(websocket, "visitor")


def agent_endpoint(websocket: WebSocket) -> Coroutine[Any, Any, None]:
    return run_connection(websocket, "agent")
