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

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from chatserver.store import (
    AgentRecord,
    CannedResponse,
    CannedResponses,
    ConflictError,
    ConversationRecord,
    NotFoundError,
    Store,
    StoredEvent,
    VisitorRecord,
    iso_now,
)
from chatserver.web.assets import STATIC_DIR
from chatserver.web.cross_site import SESSION_COOKIE
from chatserver.web.kit import (
    NO_STORE,
    Refused,
    agent_json,
    api,
    ctx_of,
    error,
    event_json,
    home_for,
    json_body,
    may_see,
    page,
    require_signed_in,
    sees_dashboard,
    signed_in,
)

SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_CANNED_TEXT = 4000

# --- helpers ------------------------------------------------------------------------------


def canned_store(request: Request) -> CannedResponses:
    return ctx_of(request).store


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
        return RedirectResponse(home_for(agent), status_code=303, headers=NO_STORE)
    return page("login.html")


async def console_page(request: Request) -> Response:
    agent = await signed_in(request)
    if agent is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
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
    return JSONResponse({"token": token, "agent": agent_json(agent)}, headers=NO_STORE)


async def visible_conversation(
    request: Request,
) -> tuple[ConversationRecord, list[StoredEvent]]:
    """The path's conversation and its events, if the caller may see it (`may_see`)."""
    agent = await require_signed_in(request)
    conv_id = request.path_params["conversation_id"]
    conv = await ctx_of(request).store.get_conversation(conv_id)
    if conv is None:
        raise Refused(error(404, "not_found", f"no conversation {conv_id!r}"))
    allowed, events = await may_see(ctx_of(request).store, agent, conv)
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
        for c in await _visitor_conversations(ctx.store, visitor, conv.visitor_id)
        if c.id != conv.id and c.created_at <= conv.created_at
    ]
    earlier.reverse()  # newest first
    return JSONResponse(
        {
            "conversation_id": conv.id,
            "status": conv.status,
            "visitor": {
                "name": name,
                "email": email,
                # The host app's user id: proven with the site's secret when verified, else
                # only claimed by the page (docs/widget.md, "Verified users").
                "user_id": visitor.external_id if visitor else None,
                "verified": bool(visitor and visitor.verified),
            },
            "topic": conv.topic,
            "language": conv.language,
            "page_url": conv.page_url or (start.body.get("page_url") if start else None),
            "created_at": conv.created_at,
            "tags": list(conv.tags),
            "earlier": earlier[:20],
        },
        headers=NO_STORE,
    )


async def _visitor_conversations(
    store: Store, visitor: VisitorRecord | None, visitor_id: str
) -> list[ConversationRecord]:
    """The visitor's conversations; a verified user's from every device of theirs."""
    if visitor is not None and visitor.verified and visitor.external_id is not None:
        return await store.list_user_conversations(visitor.site, visitor.external_id)
    return await store.list_conversations(visitor_id=visitor_id)


async def _same_visitor(store: Store, conv: ConversationRecord, other: ConversationRecord) -> bool:
    """Whether ``other`` is the same visitor's as ``conv`` (or the same verified user's)."""
    if other.visitor_id == conv.visitor_id:
        return True
    mine, theirs = (
        await store.get_visitor(conv.visitor_id),
        await store.get_visitor(other.visitor_id),
    )
    return (
        mine is not None
        and theirs is not None
        and mine.verified
        and theirs.verified
        and (mine.site, mine.external_id) == (theirs.site, theirs.external_id)
    )


async def earlier_transcript(request: Request) -> Response:
    conv, _ = await visible_conversation(request)
    ctx = ctx_of(request)
    earlier_id = request.path_params["earlier_id"]
    other = await ctx.store.get_conversation(earlier_id)
    if other is None or not await _same_visitor(ctx.store, conv, other):
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
        headers=NO_STORE,
    )


async def tags(request: Request) -> Response:
    await require_signed_in(request)
    used = await canned_store(request).used_tags()
    return JSONResponse({"tags": used}, headers=NO_STORE)


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
    return JSONResponse({"agents": out}, headers=NO_STORE)


async def canned_list(request: Request) -> Response:
    agent = await require_signed_in(request)
    items = await canned_store(request).list_canned(agent.id)
    return JSONResponse(
        {"canned": [canned_json(c) for c in items], "can_share": "admin" in agent.roles},
        headers=NO_STORE,
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
    return JSONResponse(canned_json(made), status_code=201, headers=NO_STORE)


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
    return JSONResponse(canned_json(edited), headers=NO_STORE)


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
