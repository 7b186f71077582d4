"""The Starlette application: routes, lifespan, and the small HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chatserver.context import HubContext
from chatserver.core.accounts import new_token, token_hash, verify_password
from chatserver.core.routing_config import load_routing_config
from chatserver.settings import Settings
from chatserver.store import TokenRecord, iso_now
from chatserver.web import admin, admin_agents, admin_webhooks, console, dashboard, widget
from chatserver.web import analytics as analytics_routes
from chatserver.web import api as api_v1
from chatserver.web.api.components import conversation_json, event_json
from chatserver.web.client_address import client_address
from chatserver.web.connections import AcceptErrorLog
from chatserver.web.cross_site import CrossSiteGuard
from chatserver.web.kit import (
    NO_STORE,
    agent_json,
    bearer_token,
    clear_session_cookie,
    ctx_of,
    error,
    is_staff,
    may_see,
    set_session_cookie,
    signed_in,
)
from chatserver.web.login_throttle import Busy
from chatserver.web.sockets import agent_endpoint, visitor_endpoint

log = logging.getLogger("chatserver")


#: The cyclic collector's thresholds for the hub process (CPython's are 700, 10, 10). Under
#: load most objects a message makes live for milliseconds — its frames, futures, the store's
#: rows — but at the default thresholds enough of them are still alive at each young
#: collection to be promoted, so a generation-1 pass (7–14 ms) ran every ~1.2 s and a full one
#: (25–47 ms) every few seconds, each stopping every conversation on the process: most of the
#: relay's p99 at 2,000 msg/s (docs/benchmarks.md). With 50,000 the young ones are dead by the
#: time a collection comes; cyclic garbage is still collected, only later.
GC_THRESHOLDS = (50_000, 20, 10)


async def login(request: Request) -> Response:
    ctx = ctx_of(request)
    try:
        body = await request.json()
    except ValueError:
        return error(400, "bad_request", "expected a JSON object with username and password")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("username"), str)
        or not isinstance(body.get("password"), str)
    ):
        return error(
            400, "bad_request", "expected a JSON object with string fields username and password"
        )
    username, now = body["username"].strip(), time.time()
    address = client_address(request.scope, ctx.settings.trusted_proxies)
    throttle = ctx.login_throttle
    wait = await throttle.attempt(username, address, now) if throttle is not None else 0
    if wait:
        return too_many(f"too many failed sign-ins; try again in {wait:.0f} s", wait)
    agent = await ctx.store.get_agent_by_username(username)
    try:
        ok = await ctx.passwords.run(
            verify_password, agent.password_hash if agent else None, body["password"]
        )
    except Busy:
        return too_many("too many sign-ins at once; try again in a moment", 1)
    if agent is None or not ok or agent.disabled:
        return error(401, "unauthorized", "wrong username or password")
    if throttle is not None:
        await throttle.succeeded(username, address, now)
    token = new_token()
    await ctx.store.add_token(
        TokenRecord(
            token_hash=token_hash(token),
            agent_id=agent.id,
            created_at=iso_now(now),
            expires_at=iso_now(now + ctx.settings.token_ttl_s),
        )
    )
    response = JSONResponse(
        {"token": token, "agent": agent_json(agent), "expires_in_s": int(ctx.settings.token_ttl_s)}
    )
    set_session_cookie(response, token, ctx.settings)
    return response


def too_many(message: str, wait_s: float) -> JSONResponse:
    return JSONResponse(
        {"error": "rate_limited", "message": message},
        status_code=429,
        headers={"Retry-After": str(max(1, round(wait_s))), "Cache-Control": "no-store"},
    )


async def logout(request: Request) -> Response:
    ctx = ctx_of(request)
    token = bearer_token(request)
    agent = await ctx.authenticate(token)
    if token is None or agent is None:
        return error(401, "unauthorized", "not signed in")
    hashed = token_hash(token)
    await ctx.store.revoke_token(hashed, iso_now())
    # This process's sockets of the session close now; the others' at their next tick.
    for client in ctx.sessions.ended({hashed}):
        client.begin_close(4401, "signed out")
    await ctx.store.add_audit(
        "signed_out", {"agent_id": agent.id}, ts=iso_now(), actor=agent.username, actor_id=agent.id
    )
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


async def me(request: Request) -> Response:
    agent = await signed_in(request)
    if agent is None:
        return error(401, "unauthorized", "not signed in")
    return JSONResponse({"agent": agent_json(agent)})


async def conversation(request: Request) -> Response:
    ctx = ctx_of(request)
    agent = await signed_in(request)
    if agent is None:
        return error(401, "unauthorized", "sign in first (Authorization: Bearer <token>)")
    conv_id = request.path_params["conversation_id"]
    conv = await ctx.store.get_conversation(conv_id)
    if conv is None:
        return error(404, "not_found", f"no conversation {conv_id!r}")
    allowed, events = await may_see(ctx.store, agent, conv)
    if not allowed:
        return error(403, "forbidden", "this conversation was not assigned to you")
    payload: dict[str, Any] = {
        "conversation": conversation_json(conv),
        "events": [event_json(e) for e in events],
    }
    if is_staff(agent):
        payload["decisions"] = [
            {"ts": d.ts, "explanation": d.explanation} for d in await ctx.store.decisions(conv_id)
        ]
    return JSONResponse(payload)


#: What a load balancer is told while this process drains before a restart (SIGTERM):
#: /readyz and every new WebSocket handshake answer 503 with it, at once.
DRAINING = "this hub process is restarting; connect to another"


def draining(status: str) -> JSONResponse:
    return JSONResponse(
        {"status": status, "error": "unavailable", "message": DRAINING},
        status_code=503,
        headers={**NO_STORE, "Retry-After": "1"},
    )


async def healthz(request: Request) -> Response:
    """Liveness: the process answers (draining or not — a drain is not a reason to kill it)."""
    ctx = ctx_of(request)
    return JSONResponse({"status": "ok", "node": ctx.settings.node_id, "draining": ctx.draining})


async def readyz(request: Request) -> Response:
    """Readiness: Redis and the store answer, and the process is not draining."""
    ctx = ctx_of(request)
    if ctx.draining:
        return draining("draining")
    checks = await ctx.ready()
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503
    )


def metrics_refusal(request: Request, settings: Settings) -> Response | None:
    """`/metrics` tells how busy the hub is and what it does: with ``CHATSERVER_METRICS_TOKEN``
    set, only for that bearer token; without it, only for this machine (loopback; behind a
    trusted proxy, the client it names)."""
    if settings.metrics_token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            return None
        return error(401, "unauthorized", "/metrics needs the metrics token (Bearer)")
    address = client_address(request.scope, settings.trusted_proxies)
    try:
        if ipaddress.ip_address(address).is_loopback:
            return None
    except ValueError:
        pass
    return error(
        403, "forbidden", "/metrics answers this machine only; set CHATSERVER_METRICS_TOKEN"
    )


async def metrics(request: Request) -> Response:
    ctx = ctx_of(request)
    refused = metrics_refusal(request, ctx.settings)
    if refused is not None:
        return refused
    try:
        await ctx.refresh_queue_gauges()
    except (RedisError, OSError) as exc:
        log.warning("queue figures unavailable for /metrics", extra={"error": repr(exc)})
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


class HubApp:
    """The Starlette app, except that the two WebSocket endpoints are called before its
    middleware stack: those coroutine frames would otherwise stay on every idle connection's
    stack for its whole life (about 5 KiB each, measured by bench/connections.py)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state
        self.sockets = {"/ws/visitor": visitor_endpoint, "/ws/agent": agent_endpoint}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.sockets.get(scope["path"]) if scope["type"] == "websocket" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        websocket = WebSocket(scope, receive, send)
        if self.state.ctx.draining:  # the client tries again, through the load balancer
            await websocket.send_denial_response(draining("draining"))
            return
        await endpoint(websocket)


def create_app(settings: Settings) -> HubApp:
    routing_config = load_routing_config(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        asyncio.get_running_loop().set_exception_handler(AcceptErrorLog())
        ctx = await HubContext.open(settings, routing_config)
        app.state.ctx = ctx
        # Everything built at start-up lives as long as the process: keep it out of the
        # collector's way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        log.info(
            "hub ready", extra={"node": settings.node_id, "topics": list(ctx.routing_config.topics)}
        )
        try:
            yield
        finally:
            await ctx.close()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/v1/auth/login", login, methods=["POST"]),
        Route("/api/v1/auth/logout", logout, methods=["POST"]),
        Route("/api/v1/me", me),
        *api_v1.routes({"getConversation": conversation}),
        Route("/api/v1/conversations/{conversation_id}", conversation),
        WebSocketRoute("/ws/visitor", visitor_endpoint),
        WebSocketRoute("/ws/agent", agent_endpoint),
        *analytics_routes.routes(),
        *console.routes(),
        *dashboard.routes(),
        *admin.routes(),
        *admin_agents.routes(),
        *admin_webhooks.routes(),
        *widget.routes(settings, tuple(routing_config.topics), routing_config.languages),
    ]
    guard = Middleware(CrossSiteGuard, public_url=settings.public_url, extra=settings.staff_origins)
    return HubApp(Starlette(routes=routes, lifespan=lifespan, middleware=[guard]))
