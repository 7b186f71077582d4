"""The REST API v1 for integrations (docs/api.md), mounted by the app as ``*api.routes(…)``.

- ``conversations.py``: conversations, transcripts, messages, notes, tags, transfer, close,
  agents — API keys with scopes (``read``, ``write``, ``bot``)
- ``admin_keys.py``: admins' API keys (page and API)
- ``keys.py``: making a key; the gate of a key (live, scope, rate)
- ``schema.py``: the route table as data, its checks and the OpenAPI 3.1 document
- ``components.py``: the named schemas and the answers built in their shape

`routes` turns each `Operation` into a Starlette route whose endpoint is `endpoint`: who may
(an API key with one of the scopes, or an admin), the parameters and the body checked against
the declared schemas (422 naming the field), then the handler, whose refusals — protocol
errors from the core, store and analytics errors — are answered in the ``{"error",
"message"}`` shape with their status. ``GET /api/v1/openapi.json`` is the document;
``GET /api/docs`` renders it as a page.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import routing
from chatserver import __version__
from chatserver import protocol as p
from chatserver.analytics.errors import AnalyticsError
from chatserver.store import ConflictError, UnavailableError
from chatserver.web.admin import require_admin
from chatserver.web.api import admin_bots, admin_keys, conversations
from chatserver.web.api.components import COMPONENTS
from chatserver.web.api.docs_page import render_reference
from chatserver.web.api.keys import require_key
from chatserver.web.api.schema import Invalid, Operation, check_value, openapi
from chatserver.web.kit import NO_STORE, Handler, Refused, api_key_token, error

__all__ = ["OPERATIONS", "document", "routes"]

log = logging.getLogger("chatserver.api")

OPERATIONS: list[Operation] = [
    *conversations.OPERATIONS,
    *admin_keys.OPERATIONS,
    *admin_bots.OPERATIONS,
]

#: A protocol error's code → the HTTP status the API answers it with (and its code there).
_PROTOCOL_STATUS = {
    "bad_frame": (422, "invalid"),
    "too_large": (422, "invalid"),
    "unauthorized": (401, "unauthorized"),
    "forbidden": (403, "forbidden"),
    "not_found": (404, "not_found"),
    "conflict": (409, "conflict"),
    "rate_limited": (429, "rate_limited"),
    "unavailable": (503, "unavailable"),
}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation (built once per process)."""
    return openapi(OPERATIONS, COMPONENTS, __version__)


def invalid(field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid", "message": message, "field": field},
        status_code=422,
        headers=NO_STORE,
    )


async def _given(request: Request, op: Operation) -> dict[str, Any]:
    """The operation's input, checked: parameters by name, the body under ``"body"``."""
    given: dict[str, Any] = {}
    for param in op.params:
        source = request.path_params if param.where == "path" else request.query_params
        raw = source.get(param.name)
        if raw is None or (raw == "" and param.where == "query"):
            if param.required:
                raise Refused(invalid(param.name, f"{param.name}: is required"))
            continue
        value: object = raw
        if param.schema.get("type") == "integer":
            try:
                value = int(raw)
            except ValueError:
                message = f"{param.name}: expected a whole number"
                raise Refused(invalid(param.name, message)) from None
        try:
            check_value(param.schema, value, param.name)
        except Invalid as exc:
            raise Refused(invalid(exc.field, str(exc))) from None
        given[param.name] = value
    if op.body is not None:
        try:
            body = await request.json() if op.body.required or await request.body() else {}
        except ValueError:
            raise Refused(invalid("body", "body: expected a JSON object")) from None
        try:
            check_value(op.body.schema, body, "body")
        except Invalid as exc:
            raise Refused(invalid(exc.field, str(exc))) from None
        given["body"] = body
    return given


def endpoint(op: Operation) -> Handler:
    async def run(request: Request) -> Response:
        try:
            if op.scopes is None:
                request.state.admin = await require_admin(request)
            else:
                request.state.api_key = await require_key(request, op.scopes)
            return await op.handler(request, await _given(request, op))
        except Refused as refused:
            return refused.response
        except p.ProtocolError as exc:
            status, code = _PROTOCOL_STATUS.get(exc.code, (500, "internal"))
            return error(status, code, exc.message)
        except AnalyticsError as exc:  # since/until that are not times
            return error(422, "invalid", str(exc))
        except ConflictError as exc:
            return error(409, "conflict", str(exc))
        except UnavailableError as exc:
            return error(503, "unavailable", str(exc))
        except (routing.RoutingError, RedisError) as exc:
            log.warning("API call failed on the router", extra={"error": repr(exc)})
            return error(503, "unavailable", "the router cannot be reached just now")

    run.__name__ = op.operation_id
    return run


def _with_fallback(handler: Handler, fallback: Handler) -> Handler:
    """The API key's operation for a request that carries a key, else the route that was there
    first (the console's transcript by agent token)."""

    async def run(request: Request) -> Response:
        if api_key_token(request) is None:
            return await fallback(request)
        return await handler(request)

    return run


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document(), headers={"Cache-Control": "no-cache"})


async def reference(request: Request) -> Response:
    return render_reference(document())


def routes(fallbacks: dict[str, Handler] | None = None) -> list[BaseRoute]:
    """The API's routes; ``fallbacks`` maps an operation id to the handler of a route of the
    same path and method that was there before (answered when no API key is given)."""
    fallbacks = fallbacks or {}
    table: list[BaseRoute] = [
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
        Route("/api/docs", reference, methods=["GET"]),
        Route("/admin/api-keys", admin_keys.page, methods=["GET"]),
        Route("/admin/bots", admin_bots.page, methods=["GET"]),
    ]
    for op in OPERATIONS:
        handler = endpoint(op)
        if op.operation_id in fallbacks:
            handler = _with_fallback(handler, fallbacks[op.operation_id])
        table.append(Route(op.path, handler, methods=[op.method]))
    return table
