"""The web kit: what every route module of the hub shares — who is calling (the bearer token
or the session cookie), who may see what, how an API refuses, how a page is rendered.

- Sign-in: `bearer_token` (``Authorization: Bearer …``, else the HttpOnly session cookie),
  `signed_in`, `require_signed_in`; `set_session_cookie` and `clear_session_cookie` for the
  sign-in and sign-out answers.
- Roles: `STAFF_ROLES` (the dashboard, any transcript), `DASHBOARD_ROLES`, `home_for`.
- Conversations: `may_see`, the rule of every route that shows one.
- Answers: `error` (``{"error","message"}``, never cached), `Refused` raised by a check and
  answered by `api`, JSON shapes `agent_json` and `event_json`; `page` renders a staff page from
  `web/assets/templates/` with its security headers.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from chatserver.analytics.errors import AnalyticsError
from chatserver.context import HubContext
from chatserver.settings import Settings
from chatserver.store import (
    AgentRecord,
    ConversationRecord,
    StoredEvent,
    TranscriptStore,
    UnavailableError,
    iso_now,
)
from chatserver.store.api_keys import ApiKeyRecord
from chatserver.web.assets import TEMPLATES_DIR
from chatserver.web.cross_site import SESSION_COOKIE

STAFF_ROLES = frozenset({"supervisor", "analyst", "admin"})
DASHBOARD_ROLES = frozenset({"supervisor", "admin"})

NO_STORE = {"Cache-Control": "no-store"}
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

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "j2"]),
    auto_reload=False,
)


# --- the hub and the caller ---------------------------------------------------------------


def ctx_of(request: Request) -> HubContext:
    ctx: HubContext = request.app.state.ctx
    return ctx


def bearer_token(request: Request) -> str | None:
    """The caller's token: ``Authorization: Bearer …``, else the session cookie."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE)


async def signed_in(request: Request) -> AgentRecord | None:
    return await ctx_of(request).authenticate(bearer_token(request))


async def require_signed_in(request: Request) -> AgentRecord:
    """The signed-in caller, or `Refused` with the 401 every API answers without one."""
    agent = await signed_in(request)
    if agent is None:
        raise Refused(error(401, "unauthorized", "not signed in"))
    return agent


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """The session cookie the staff pages sign in with: HttpOnly, same-site strict."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.token_ttl_s),
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


# --- API keys (the REST API v1: chatserver.web.api, docs/api.md) -------------------------

#: How every API key starts: ``csk_<id>_<secret>``.
API_KEY_PREFIX = "csk_"
#: A key's last use is written at most this often (a write per key per minute, not per call).
API_KEY_TOUCH_S = 60.0


def api_key_token(request: Request) -> str | None:
    """The bearer token if it is an API key (``Authorization: Bearer csk_…``), else None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token.startswith(API_KEY_PREFIX) else None


def api_key_hash(token: str) -> str:
    """What the store keeps of a key: the SHA-256 of the whole key (chatserver.store.api_keys
    says why no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def api_key_of(request: Request) -> ApiKeyRecord | None:
    """The live API key the request carries, None if it carries none, an unknown or a revoked
    one. Read from the store on every call (no cache), so a revocation holds at once on every
    process; the key's last use is recorded at most once a minute."""
    token = api_key_token(request)
    if token is None:
        return None
    store = ctx_of(request).store
    key = await store.get_api_key_by_hash(api_key_hash(token))
    if key is None or key.revoked_at is not None:
        return None
    now = time.time()
    if key.last_used_at is None or key.last_used_at < iso_now(now - API_KEY_TOUCH_S):
        await store.touch_api_key(key.id, iso_now(now))
    return key


# --- who may ------------------------------------------------------------------------------


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
    store: TranscriptStore, agent: AgentRecord, conv: ConversationRecord
) -> tuple[bool, list[StoredEvent]]:
    """Who may see a conversation: staff, the agent holding it, or one who served it.
    Returns the events too (read for the check anyway)."""
    events = await store.events(conv.id)
    if is_staff(agent) or conv.agent_id == agent.id:
        return True, events
    served = any(e.kind == "assigned" and e.body.get("agent_id") == agent.id for e in events)
    return served, events


# --- answers ------------------------------------------------------------------------------


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=NO_STORE)


class Refused(Exception):
    """An API request turned away before it changed anything; `api` answers with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


Handler = Callable[[Request], Awaitable[Response]]


def api(handler: Handler) -> Handler:
    """An API endpoint whose checks may raise `Refused` (the refusal is the answer) or an
    analytics error (answered with its status, code and message) — one place for what every
    staff API handler would otherwise catch itself; the store unavailable is a 503."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response
        except AnalyticsError as exc:
            return error(exc.status, exc.code, str(exc))
        except UnavailableError as exc:  # the database cannot be read just now
            return error(503, exc.code, str(exc))

    return endpoint


async def json_body(request: Request) -> object:
    """The request's JSON, or None when it is not JSON."""
    try:
        return await request.json()
    except ValueError:
        return None


def agent_json(agent: AgentRecord) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "skills": dict(agent.skills),
        "capacity": agent.capacity,
        "roles": list(agent.roles),
    }


def event_json(e: StoredEvent) -> dict[str, Any]:
    """A transcript event as the console and the dashboard show it."""
    return {
        "seq": e.seq,
        "ts": e.ts,
        "kind": e.kind,
        "from": {"role": e.actor_role, "name": e.actor_name},
        "body": e.body,
    }


def page(name: str, **values: Any) -> HTMLResponse:
    """A staff page rendered from `web/assets/templates/`, never cached, never framed."""
    html = _templates.get_template(name).render(**values)
    return HTMLResponse(
        html,
        headers={**_SECURITY_HEADERS, **NO_STORE, "Content-Security-Policy": _PAGE_POLICY},
    )


__all__ = [
    "API_KEY_PREFIX",
    "DASHBOARD_ROLES",
    "NO_STORE",
    "STAFF_ROLES",
    "Handler",
    "Refused",
    "agent_json",
    "api",
    "api_key_hash",
    "api_key_of",
    "api_key_token",
    "bearer_token",
    "clear_session_cookie",
    "ctx_of",
    "error",
    "event_json",
    "home_for",
    "is_staff",
    "json_body",
    "may_see",
    "page",
    "require_signed_in",
    "sees_dashboard",
    "set_session_cookie",
    "signed_in",
]
