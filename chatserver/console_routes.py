"""The agent console's HTTP routes: its two pages, its assets, and the small API it reads.

Pages (server-rendered from `web/assets/templates/`, scripts and styles from `web/assets/static/`):

- `GET /login` — the sign-in form; it posts to `POST /api/v1/auth/login`, which sets the
  HttpOnly session cookie, then goes to `/dashboard` (supervisors and admins without the agent
  role) or `/console` (everyone else). Already signed in: redirected there at once.
- `GET /console` — the console itself; without a valid session cookie it redirects to `/login`.
  Supervisors and admins get a "Dashboard" link in its top bar.
- `GET /console/static/…` — the console's ES modules and CSS (no build step).

API (bearer token or session cookie, as every `/api/v1` route):

- `GET /api/v1/session` → `{"token","agent"}`: the cookie's token for the WebSocket `hello`, so
  the page never puts it in a URL and the cookie stays HttpOnly.
- `GET /api/v1/conversations/{id}/context` → the visitor (name, e-mail), topic, language, the
  page the chat started on, and the visitor's earlier conversations.
- `GET /api/v1/conversations/{id}/earlier/{earlier_id}` → the transcript of one earlier
  conversation of the same visitor, read-only.
- `GET /api/v1/tags` → tags already used (suggestions).
- `GET /api/v1/agents/online` → agents who are online now (transfer targets).
- `GET /api/v1/canned`, `POST /api/v1/canned`, `PUT /api/v1/canned/{id}`,
  `DELETE /api/v1/canned/{id}` → canned responses: an agent manages its own, an admin the
  shared ones.

`docs/console.md` describes the console.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from chatserver.analytics.errors import AnalyticsError
from chatserver.context import HubContext
from chatserver.store.base import (
    AgentRecord,
    CannedResponse,
    CannedResponses,
    ConflictError,
    ConversationRecord,
    NotFoundError,
    StoredEvent,
    iso_now,
)
from chatserver.web.assets import STATIC_DIR, TEMPLATES_DIR
from chatserver.web.cross_site import SESSION_COOKIE

STAFF_ROLES = frozenset({"supervisor", "analyst", "admin"})
DASHBOARD_ROLES = frozenset({"supervisor", "admin"})
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_CANNED_TEXT = 4000

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_NO_STORE = {"Cache-Control": "no-store"}

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "j2"]),
    auto_reload=False,
)


# --- helpers ------------------------------------------------------------------------------


def ctx_of(request: Request) -> HubContext:
    ctx: HubContext = request.app.state.ctx
    return ctx


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=_NO_STORE)


class Refused(Exception):
    """An API request turned away before it changed anything; `api` answers with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """An API endpoint whose checks may raise `Refused` (the refusal is the answer) or an
    analytics error (answered with its status, code and message) — one place for what every
    staff API handler would otherwise catch itself."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response
        except AnalyticsError as exc:
            return error(exc.status, exc.code, str(exc))

    return endpoint


def request_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


async def signed_in(request: Request) -> AgentRecord | None:
    return await ctx_of(request).authenticate(request_token(request))


async def require_signed_in(request: Request) -> AgentRecord:
    """The signed-in caller, or `Refused` with the 401 every API answers without one."""
    agent = await signed_in(request)
    if agent is None:
        raise Refused(error(401, "unauthorized", "not signed in"))
    return agent


def canned_store(request: Request) -> CannedResponses:
    return cast(CannedResponses, ctx_of(request).store)


def agent_json(agent: AgentRecord) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "skills": dict(agent.skills),
        "capacity": agent.capacity,
        "roles": list(agent.roles),
    }


def page(name: str, **values: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**values)
    return HTMLResponse(
        html,
        headers={
            **_SECURITY_HEADERS,
            **_NO_STORE,
            "Content-Security-Policy": _PAGE_POLICY,
        },
    )


def is_staff(agent: AgentRecord) -> bool:
    return bool(set(agent.roles) & STAFF_ROLES)


def sees_dashboard(agent: AgentRecord) -> bool:
    """Supervisors and admins have the dashboard (the console shows them a link to it)."""
    return bool(set(agent.roles) & DASHBOARD_ROLES)


def home_for(agent: AgentRecord) -> str:
    """Where a signed-in user starts: the dashboard for supervisors and admins who do not take
    chats themselves, the console for everyone else. `login.js` applies the same rule."""
    return "/dashboard" if sees_dashboard(agent) and "agent" not in agent.roles else "/console"


async def may_see(
    request: Request, agent: AgentRecord, conv: ConversationRecord
) -> tuple[bool, list[StoredEvent]]:
    """The rule of `GET /api/v1/conversations/{id}`: staff, the agent holding it, or one who
    served it. Returns the events too (read for the check anyway)."""
    events = await ctx_of(request).store.events(conv.id)
    if is_staff(agent) or conv.agent_id == agent.id:
        return True, events
    served = any(e.kind == "assigned" and e.body.get("agent_id") == agent.id for e in events)
    return served, events


def event_json(e: StoredEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "ts": e.ts,
        "kind": e.kind,
        "from": {"role": e.actor_role, "name": e.actor_name},
        "body": e.body,
    }


def canned_json(c: CannedResponse) -> dict[str, Any]:
    return {
        "id": c.id,
        "shortcut": c.shortcut,
        "text": c.text,
        "shared": c.owner_id is None,
        "created_at": c.created_at,
    }


# --- pages --------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    agent = await signed_in(request)
    if agent is not None:
        return RedirectResponse(home_for(agent), status_code=303, headers=_NO_STORE)
    return page("login.html")


async def console_page(request: Request) -> Response:
    agent = await signed_in(request)
    if agent is None:
        return RedirectResponse("/login", status_code=303, headers=_NO_STORE)
    ctx = ctx_of(request)
    return page(
        "console.html",
        agent=agent,
        topics=list(ctx.routing_config.topics),
        is_admin="admin" in agent.roles,
        dashboard=sees_dashboard(agent),
    )


# --- API ----------------------------------------------------------------------------------


async def session(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    agent = await ctx_of(request).authenticate(token)
    if agent is None or token is None:
        return error(401, "unauthorized", "not signed in")
    return JSONResponse({"token": token, "agent": agent_json(agent)}, headers=_NO_STORE)


async def visible_conversation(
    request: Request,
) -> tuple[ConversationRecord, list[StoredEvent]]:
    """The path's conversation and its events, if the caller may see it (`may_see`)."""
    agent = await require_signed_in(request)
    conv_id = request.path_params["conversation_id"]
    conv = await ctx_of(request).store.get_conversation(conv_id)
    if conv is None:
        raise Refused(error(404, "not_found", f"no conversation {conv_id!r}"))
    allowed, events = await may_see(request, agent, conv)
    if not allowed:
        raise Refused(error(403, "forbidden", "this conversation was not assigned to you"))
    return conv, events


async def context(request: Request) -> Response:
    conv, events = await visible_conversation(request)
    ctx = ctx_of(request)
    start = next((e for e in events if e.kind == "start"), None)
    visitor = await ctx.store.get_visitor(conv.visitor_id)
    name = (start.body.get("name") if start else None) or (visitor.name if visitor else None)
    email = (start.body.get("email") if start else None) or (visitor.email if visitor else None)
    earlier = [
        {
            "conversation_id": c.id,
            "topic": c.topic,
            "status": c.status,
            "created_at": c.created_at,
            "closed_at": c.closed_at,
            "tags": list(c.tags),
        }
        for c in await ctx.store.list_conversations(visitor_id=conv.visitor_id)
        if c.id != conv.id and c.created_at <= conv.created_at
    ]
    earlier.reverse()  # newest first
    return JSONResponse(
        {
            "conversation_id": conv.id,
            "status": conv.status,
            "visitor": {"name": name, "email": email},
            "topic": conv.topic,
            "language": conv.language,
            "page_url": conv.page_url or (start.body.get("page_url") if start else None),
            "created_at": conv.created_at,
            "tags": list(conv.tags),
            "earlier": earlier[:20],
        },
        headers=_NO_STORE,
    )


async def earlier_transcript(request: Request) -> Response:
    conv, _ = await visible_conversation(request)
    ctx = ctx_of(request)
    earlier_id = request.path_params["earlier_id"]
    other = await ctx.store.get_conversation(earlier_id)
    if other is None or other.visitor_id != conv.visitor_id:
        return error(404, "not_found", f"no earlier conversation {earlier_id!r} of this visitor")
    events = await ctx.store.events(other.id)
    shown = [event_json(e) for e in events if e.kind in {"message", "note", "closed"}]
    return JSONResponse(
        {
            "conversation_id": other.id,
            "topic": other.topic,
            "status": other.status,
            "created_at": other.created_at,
            "tags": list(other.tags),
            "events": shown,
        },
        headers=_NO_STORE,
    )


async def tags(request: Request) -> Response:
    await require_signed_in(request)
    used = await canned_store(request).used_tags()
    return JSONResponse({"tags": used}, headers=_NO_STORE)


async def online_agents(request: Request) -> Response:
    me = await require_signed_in(request)
    ctx = ctx_of(request)
    out = []
    for state in await ctx.router.agents():
        if state.status != "online" or state.agent_id == me.id:
            continue
        record = await ctx.store.get_agent(state.agent_id)
        if record is None or record.disabled:
            continue
        out.append(
            {
                "username": record.username,
                "display_name": record.display_name,
                "load": state.load,
                "capacity": state.capacity,
            }
        )
    out.sort(key=lambda a: (str(a["display_name"]).lower(), str(a["username"])))
    return JSONResponse({"agents": out}, headers=_NO_STORE)


async def canned_list(request: Request) -> Response:
    agent = await require_signed_in(request)
    items = await canned_store(request).list_canned(agent.id)
    return JSONResponse(
        {"canned": [canned_json(c) for c in items], "can_share": "admin" in agent.roles},
        headers=_NO_STORE,
    )


def read_canned(body: object) -> tuple[str, str, bool]:
    """Validate a canned response's JSON body → (shortcut, text, shared), or `Refused` (400).

    The shortcut loses a leading ``/`` and is lowercased; the text is trimmed."""
    if not isinstance(body, dict):
        raise Refused(error(400, "bad_request", "expected a JSON object with shortcut and text"))
    shortcut = body.get("shortcut")
    text = body.get("text")
    shared = body.get("shared", False)
    if not isinstance(shortcut, str) or not SHORTCUT.match(shortcut.strip().lstrip("/").lower()):
        raise Refused(
            error(
                400,
                "bad_request",
                "shortcut: 1 to 32 letters, digits, '-' or '_', starting with a letter or digit",
            )
        )
    if not isinstance(text, str) or not text.strip():
        raise Refused(error(400, "bad_request", "text: must not be empty"))
    if len(text.strip()) > MAX_CANNED_TEXT:
        raise Refused(error(400, "bad_request", f"text: at most {MAX_CANNED_TEXT} characters"))
    if not isinstance(shared, bool):
        raise Refused(error(400, "bad_request", "shared: must be true or false"))
    return shortcut.strip().lstrip("/").lower(), text.strip(), shared


async def json_body(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        return None


async def canned_add(request: Request) -> Response:
    agent = await require_signed_in(request)
    key, text, shared = read_canned(await json_body(request))
    if shared and "admin" not in agent.roles:
        return error(403, "forbidden", "only an admin can add shared responses")
    try:
        made = await canned_store(request).add_canned(
            None if shared else agent.id, key, text, ts=iso_now()
        )
    except ConflictError:
        return error(409, "conflict", f"a response with the shortcut /{key} exists already")
    return JSONResponse(canned_json(made), status_code=201, headers=_NO_STORE)


async def editable_canned(request: Request, agent: AgentRecord, verb: str) -> CannedResponse:
    """The canned response named in the path if ``agent`` may change it: its own (someone
    else's is 404, as if it did not exist), or a shared one when ``agent`` is an admin (403)."""
    raw = request.path_params["canned_id"]
    # Only plain ASCII digits that fit SQLite's integer are ids ("²" or 30 digits are not).
    is_id = raw.isascii() and raw.isdigit() and len(raw) <= 18
    item = await canned_store(request).get_canned(int(raw)) if is_id else None
    if item is None or (item.owner_id is not None and item.owner_id != agent.id):
        raise Refused(error(404, "not_found", f"no canned response {raw!r}"))
    if item.owner_id is None and "admin" not in agent.roles:
        raise Refused(error(403, "forbidden", f"only an admin can {verb} shared responses"))
    return item


async def canned_update(request: Request) -> Response:
    agent = await require_signed_in(request)
    item = await editable_canned(request, agent, "edit")
    body = await json_body(request)
    key, text, shared = read_canned(body)
    if isinstance(body, dict) and "shared" in body and shared != (item.owner_id is None):
        return error(
            400,
            "bad_request",
            "shared: cannot be changed by an edit; add a new response and delete this one",
        )
    try:
        edited = await canned_store(request).update_canned(item.id, key, text)
    except ConflictError:
        return error(409, "conflict", f"a response with the shortcut /{key} exists already")
    except NotFoundError:
        return error(404, "not_found", f"no canned response {item.id!r}")
    return JSONResponse(canned_json(edited), headers=_NO_STORE)


async def canned_delete(request: Request) -> Response:
    agent = await require_signed_in(request)
    item = await editable_canned(request, agent, "delete")
    try:
        await canned_store(request).delete_canned(item.id)
    except NotFoundError:
        return error(404, "not_found", f"no canned response {item.id!r}")
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    """The console's routes, to add to the hub's Starlette app."""
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/console", console_page, methods=["GET"]),
        Route("/api/v1/session", session, methods=["GET"]),
        Route("/api/v1/conversations/{conversation_id}/context", api(context), methods=["GET"]),
        Route(
            "/api/v1/conversations/{conversation_id}/earlier/{earlier_id}",
            api(earlier_transcript),
            methods=["GET"],
        ),
        Route("/api/v1/tags", api(tags), methods=["GET"]),
        Route("/api/v1/agents/online", api(online_agents), methods=["GET"]),
        Route("/api/v1/canned", api(canned_list), methods=["GET"]),
        Route("/api/v1/canned", api(canned_add), methods=["POST"]),
        Route("/api/v1/canned/{canned_id}", api(canned_update), methods=["PUT"]),
        Route("/api/v1/canned/{canned_id}", api(canned_delete), methods=["DELETE"]),
        Mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static"),
    ]


__all__ = ["routes"]
