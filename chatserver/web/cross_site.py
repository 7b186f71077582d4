"""Cross-site writes refused: no page of another origin can make a signed-in browser change
anything on the hub.

The session cookie is ``SameSite=Strict``, but "site" is wider than "origin": a page on
another port of the same host, or on a sibling subdomain, is the same site, and its forms and
``fetch(..., {mode: "no-cors", credentials: "include"})`` carry the cookie. Such a request
needs none of CORS's permission as long as it is a "simple" one (a form's ``text/plain``), so
before this check a hidden form on ``http://127.0.0.1:9201`` created an admin on a hub at
``:8101``. Now every request with an unsafe method (anything but GET, HEAD, OPTIONS) is checked
before any route sees it:

1. An ``Origin`` header, when sent, must be one of the staff origins: the hub's own (from its
   ``Host``), ``CHATSERVER_PUBLIC_URL``'s, and ``CHATSERVER_STAFF_ORIGINS``. ``Origin: null``
   (sandboxed frames, ``file:`` pages) is foreign.
2. A request carrying the session cookie and no ``Origin`` must say
   ``Sec-Fetch-Site: same-origin`` (browsers send one or the other); a client that has neither
   is not a browser and authenticates with a bearer token, which no other page can attach.
3. A request carrying the session cookie and a body must send it as ``application/json``: the
   one type a cross-origin page cannot send without CORS's permission.

Refused: 403 ``{"error": "forbidden", "message": "cross-site request refused: …"}``; nothing
else happens. Requests with a bearer token and no cookie (scripts, integrations) pass rules 2
and 3; rule 1 still applies to any browser that sends them.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "chat_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, or None if it has no scheme and host."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def own_origin(host: str | None, public_url: str | None) -> set[str]:
    """The hub's own origins: its ``Host`` (either scheme) and ``CHATSERVER_PUBLIC_URL``'s."""
    origins = set()
    if public_url and (public := origin_of(public_url)) is not None:
        origins.add(public)
    if host:
        origins.update({f"http://{host}", f"https://{host}"})
    return origins


def staff_origins(host: str | None, public_url: str | None, extra: tuple[str, ...]) -> set[str]:
    """Where the hub's own pages (console, dashboard, admin) may be served from: its own
    origins and ``CHATSERVER_STAFF_ORIGINS``."""
    return own_origin(host, public_url) | {o for o in map(origin_of, extra) if o is not None}


def _has_session_cookie(headers: Headers) -> bool:
    raw = headers.get("cookie")
    if not raw or SESSION_COOKIE not in raw:
        return False
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(raw)
    except Exception:  # a malformed Cookie header: treat it as carrying one, to be safe
        return True
    return SESSION_COOKIE in cookies


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def refusal(
    method: str, headers: Headers, public_url: str | None, extra: tuple[str, ...]
) -> str | None:
    """Why this request must be refused as cross-site, or None."""
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    cookie = _has_session_cookie(headers)
    if origin is not None:
        if origin not in staff_origins(headers.get("host"), public_url, extra):
            return f"origin {origin} is not this hub's"
    elif cookie and headers.get("sec-fetch-site") != "same-origin":
        return "no Origin header on a request carrying the session cookie"
    if cookie and _has_body(headers):
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return "a request carrying the session cookie must send its body as application/json"
    return None


class CrossSiteGuard:
    """ASGI middleware applying `refusal` to every HTTP request (module docstring)."""

    def __init__(self, app: ASGIApp, *, public_url: str | None, extra: tuple[str, ...]) -> None:
        self.app = app
        self.public_url = public_url
        self.extra = extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            why = refusal(scope["method"], Headers(scope=scope), self.public_url, self.extra)
            if why is not None:
                response = JSONResponse(
                    {"error": "forbidden", "message": f"cross-site request refused: {why}"},
                    status_code=403,
                    headers={"Cache-Control": "no-store"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = [
    "SESSION_COOKIE",
    "CrossSiteGuard",
    "origin_of",
    "own_origin",
    "refusal",
    "staff_origins",
]
