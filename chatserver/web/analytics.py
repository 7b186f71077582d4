"""The analysts' HTTP API, mounted by the app as ``*analytics.routes()``.

| route | who | what |
|---|---|---|
| ``GET /api/v1/export`` | analyst, admin | the streamed export (`chatserver.analytics.export`); ``redact=false`` admin only, audited |
| ``GET /api/v1/analytics/summary`` | analyst, admin | every figure as JSON (`chatserver.analytics.figures.summary`) |
| ``GET /api/v1/analytics/report`` | analyst, admin | the same as the self-contained HTML page |
| ``GET /api/v1/analytics/audit`` | admin | the audit log, newest first |

Query parameters mirror the CLI flags: ``format``, ``shape``, ``since``, ``until``, ``topic``,
``agent``, ``tag``, ``rating``, ``after``, ``redact``; ``terms=false`` leaves out the term
analysis of the summary. Sign-in is the bearer token (``Authorization: Bearer …``) or the
console's session cookie, as for the rest of the API. Handlers find the hub in
``request.app.state.ctx`` (a `chatserver.context.HubContext`). The work is done by
`chatserver.analytics`; this module only maps requests to it and its results to responses.

The export's ``X-Export-Cursor`` header is the cursor to pass as ``after`` next time. The body
is produced in a worker thread from a consistent snapshot, chunk by chunk, as the client reads.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from chatserver.analytics.errors import AnalyticsError, BadRequest, Forbidden
from chatserver.analytics.export import Export, ExportOptions, content_type
from chatserver.analytics.figures import summary
from chatserver.analytics.filters import filters_from
from chatserver.analytics.report import render_html
from chatserver.store import AgentRecord, Filters, SnapshotSource, Store, StoreError, iso_now
from chatserver.web.kit import api_key_of, api_key_token, bearer_token

__all__ = ["ANALYST_ROLES", "routes"]

ANALYST_ROLES = frozenset({"analyst", "admin"})
_EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
_FALSE = {"false", "0", "no", "off"}
_TRUE = {"true", "1", "yes", "on"}


#: The HTTP status of a store error (`chatserver.store.BadSelection`: an unknown agent, a
#: cursor of another store; `UnavailableError`: the database cannot be read).
_STORE_STATUS = {"bad_request": 400, "not_found": 404, "unavailable": 503}


def _error(exc: AnalyticsError | StoreError) -> JSONResponse:
    status = exc.status if isinstance(exc, AnalyticsError) else _STORE_STATUS.get(exc.code, 500)
    return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=status)


async def _caller(request: Request, roles: frozenset[str] = ANALYST_ROLES) -> AgentRecord:
    if api_key_token(request) is not None:
        return await _key_caller(request, roles)
    agent: AgentRecord | None = await request.app.state.ctx.authenticate(bearer_token(request))
    if agent is None:
        raise _Unauthorized("sign in first (Authorization: Bearer <token>)")
    if not set(agent.roles) & roles:
        raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}")
    return agent


async def _key_caller(request: Request, roles: frozenset[str]) -> AgentRecord:
    """An API key with the ``read`` scope reads as an analyst would (redacted exports, the
    figures); never as an admin (no unredacted export, no audit log). docs/api.md"""
    key = await api_key_of(request)
    if key is None:
        raise _Unauthorized("unknown or revoked API key")
    if "read" not in key.scopes:
        raise Forbidden("this API key lacks the scope read")
    if "analyst" not in roles:
        raise Forbidden(f"this needs one of the roles {', '.join(sorted(roles))}, not an API key")
    return AgentRecord(
        id=f"key:{key.id}",
        username=key.name,
        display_name=key.name,
        password_hash="",
        skills={},
        capacity=0,
        roles=("analyst",),
        created_at=key.created_at,
    )


class _Unauthorized(AnalyticsError):
    code = "unauthorized"
    status = 401


def _store(request: Request) -> Store:
    """The hub's store: the audit log, and the snapshots (`SnapshotSource.snapshot`) the
    exports and figures read, each on a connection of its own."""
    store: Store = request.app.state.ctx.store
    return store


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise BadRequest(f"{name}={value!r}: expected true or false")


async def export(request: Request) -> Response:
    try:
        agent = await _caller(request)
        store = _store(request)
        q = request.query_params
        fmt = q.get("format") or "jsonl"
        shape = q.get("shape") or "messages"
        redact = _flag(q.get("redact"), "redact", True)
        if not redact and "admin" not in agent.roles:
            raise Forbidden("only an admin may export without redaction (redact=false)")
        options = ExportOptions(
            format=fmt,  # type: ignore[arg-type]  # checked by ExportOptions
            shape=shape,  # type: ignore[arg-type]
            filters=filters_from(q),
            redact=redact,
        )
        snapshot = await run_in_threadpool(store.snapshot)
        try:
            exporter = await run_in_threadpool(Export, snapshot, options)
            if not redact:
                await store.add_audit(
                    "export_unredacted",
                    {"format": fmt, "shape": shape, "filters": options.filters.describe(),
                     "snapshot": str(exporter.cursor), "via": "http"},
                    ts=iso_now(),
                    actor=agent.username,
                    actor_id=agent.id,
                )  # fmt: skip
        except BaseException:
            snapshot.close()
            raise
    except (AnalyticsError, StoreError) as exc:
        return _error(exc)

    def body() -> Iterator[bytes]:
        try:
            yield from exporter.chunks()
        finally:
            snapshot.close()

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"chatserver-{shape if fmt != 'jsonl' else 'transcripts'}-{stamp}.{_EXTENSIONS[fmt]}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Export-Cursor": str(exporter.cursor),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(body(), media_type=content_type(fmt), headers=headers)


def _summary(store: SnapshotSource, filters: Filters, terms: bool) -> dict[str, Any]:
    with store.snapshot() as snapshot:
        return summary(snapshot, filters, terms=terms)


async def summary_route(request: Request) -> Response:
    try:
        await _caller(request)
        terms = _flag(request.query_params.get("terms"), "terms", True)
        result = await run_in_threadpool(
            _summary, _store(request), filters_from(request.query_params), terms
        )
    except (AnalyticsError, StoreError) as exc:
        return _error(exc)
    return JSONResponse(result, headers={"Cache-Control": "no-store"})


async def report_route(request: Request) -> Response:
    try:
        await _caller(request)
        result = await run_in_threadpool(
            _summary, _store(request), filters_from(request.query_params), True
        )
    except (AnalyticsError, StoreError) as exc:
        return _error(exc)
    html = await run_in_threadpool(render_html, result)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", **report_headers(html)})


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def report_headers(html: str) -> dict[str, str]:
    """The self-contained report runs only its own inline scripts (Chart.js and the one that
    draws), allowed by their hashes; it loads nothing and sends nothing anywhere."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {hashes}",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }


async def audit_route(request: Request) -> Response:
    try:
        await _caller(request, frozenset({"admin"}))
        store: Store = request.app.state.ctx.store  # the audit log needs no snapshot
        action = request.query_params.get("action") or None
        try:
            limit = int(request.query_params.get("limit") or 100)
        except ValueError:
            raise BadRequest("limit must be a whole number") from None
        entries = await store.audit_log(action=action, limit=max(1, min(limit, 1000)))
    except AnalyticsError as exc:
        return _error(exc)
    return JSONResponse(
        {
            "entries": [
                {
                    "id": e.id,
                    "ts": e.ts,
                    "actor": e.actor,
                    "actor_id": e.actor_id,
                    "action": e.action,
                    "details": e.details,
                }
                for e in entries
            ]
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/export", export),
        Route("/api/v1/analytics/summary", summary_route),
        Route("/api/v1/analytics/report", report_route),
        Route("/api/v1/analytics/audit", audit_route),
    ]
