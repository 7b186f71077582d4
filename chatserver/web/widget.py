"""The embeddable widget's HTTP routes: the loader, the chat frame, its assets, the demo page.

Everything here is static except two small pieces that depend on the settings:

- `GET /widget/frame?site=…` — the chat UI the loader opens in an iframe. Its
  `Content-Security-Policy` names the site's allowed origins in `frame-ancestors`, so a page
  from any other origin cannot frame it: the browser refuses to render the chat there. Scripts
  and styles come only from the hub (`script-src 'self'`, no inline code).
- `GET /widget/config?site=…` — `{"site","topics","languages"}` for the pre-chat form: the
  topics and languages in force now, which admins may edit at run time (`docs/admin.md`).

The files live in `chatserver/web/assets/widget/` (no build step): `loader.js` is served as
`/widget.js`, `frame.html` as `/widget/frame`, `app/` and `locales/` under `/widget/…`, and
`demo/` as `/demo`. `docs/widget.md` describes the widget itself.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from chatserver.settings import Settings
from chatserver.web.assets import WIDGET_DIR

# A CSP source expression for an origin: scheme://host[:port], host may start with "*.".
_ORIGIN = re.compile(r"^https?://((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?$")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_JS = "text/javascript; charset=utf-8"
# The demo shop page: its own files and the widget's frame. The loader injects its host styles
# as a <style> element (as on any customer's page), hence 'unsafe-inline' for styles only.
DEMO_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "frame-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def frame_ancestors(origins: tuple[str, ...]) -> str:
    """The `frame-ancestors` sources for a site's allowed origins ("self" → `'self'`).

    Anything that is not a plain origin is left out rather than passed into the header.
    """
    sources: list[str] = []
    for origin in origins:
        source = "'self'" if origin == "self" else origin.rstrip("/")
        if (source == "'self'" or _ORIGIN.match(source)) and source not in sources:
            sources.append(source)
    return " ".join(sources) or "'none'"


def frame_policy(origins: tuple[str, ...]) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {frame_ancestors(origins)}",
        ]
    )


def routes(
    settings: Settings, topics: tuple[str, ...], languages: tuple[str, ...]
) -> list[BaseRoute]:
    """The widget's routes, to add to the hub's Starlette app."""

    def site_of(request: Request) -> str:
        return request.query_params.get("site") or settings.default_site

    async def loader(request: Request) -> Response:
        return FileResponse(
            WIDGET_DIR / "loader.js",
            media_type=_JS,
            headers={
                **_SECURITY_HEADERS,
                "Cache-Control": "public, max-age=300",
                "Access-Control-Allow-Origin": "*",
            },
        )

    async def frame(request: Request) -> Response:
        origins = settings.origins_for(site_of(request))
        if origins is None:
            return Response(
                "unknown site",
                status_code=404,
                media_type="text/plain; charset=utf-8",
                headers={**_SECURITY_HEADERS, "Content-Security-Policy": frame_policy(())},
            )
        return FileResponse(
            WIDGET_DIR / "frame.html",
            media_type="text/html; charset=utf-8",
            headers={
                **_SECURITY_HEADERS,
                "Content-Security-Policy": frame_policy(origins),
                "Cache-Control": "no-cache",
            },
        )

    def offered(request: Request) -> tuple[tuple[str, ...], tuple[str, ...]]:
        # The hub's context follows the admins' edits (HubContext.apply_routing); the lists
        # given at build time serve only an app without one (a bare test app).
        ctx = getattr(request.app.state, "ctx", None)
        if ctx is None:
            return topics, languages
        return tuple(ctx.routing_config.topics), tuple(ctx.routing_config.languages)

    async def config(request: Request) -> Response:
        site = site_of(request)
        if settings.origins_for(site) is None:
            return JSONResponse(
                {"error": "not_found", "message": f"no site {site!r}"}, status_code=404
            )
        now_topics, now_languages = offered(request)
        return JSONResponse(
            {"site": site, "topics": list(now_topics), "languages": list(now_languages)},
            headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    async def demo(request: Request) -> Response:
        return FileResponse(
            WIDGET_DIR / "demo" / "index.html",
            media_type="text/html; charset=utf-8",
            headers={
                **_SECURITY_HEADERS,
                "Content-Security-Policy": DEMO_POLICY,
                "X-Frame-Options": "DENY",
                "Cache-Control": "no-cache",
            },
        )

    return [
        Route("/widget.js", loader, methods=["GET"]),
        Route("/widget/frame", frame, methods=["GET"]),
        Route("/widget/config", config, methods=["GET"]),
        Route("/demo", demo, methods=["GET"]),
        Mount("/widget/app", StaticFiles(directory=WIDGET_DIR / "app"), name="widget-app"),
        Mount(
            "/widget/locales", StaticFiles(directory=WIDGET_DIR / "locales"), name="widget-locales"
        ),
        Mount("/demo/assets", StaticFiles(directory=WIDGET_DIR / "demo"), name="widget-demo"),
    ]


__all__ = ["frame_ancestors", "frame_policy", "routes"]
