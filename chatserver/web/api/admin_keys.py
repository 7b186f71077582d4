"""Admins' API keys (docs/api.md): the page /admin/api-keys and its API under
/api/v1/admin/api-keys — list, create (the secret answered once), revoke. Each an `Operation`
whose scopes are None: an admin's session or token, never an API key. Creating and revoking
are written to the audit log (``api_key_created``, ``api_key_revoked``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver.store import iso_now
from chatserver.store.api_keys import API_KEY_SCOPES, ApiKeyScope
from chatserver.web.admin import admin_page
from chatserver.web.api.components import API_KEY, api_key_json
from chatserver.web.api.keys import mint
from chatserver.web.api.schema import Body, Operation, Param, array, error_schema, obj, string
from chatserver.web.kit import NO_STORE, ctx_of, error

__all__ = ["OPERATIONS", "page"]

MAX_NAME = 100


def _admin(request: Request) -> Any:
    return request.state.admin


async def page(request: Request) -> Response:
    return await admin_page(request, "admin_api_keys.html", "api-keys")


async def list_keys(request: Request, given: dict[str, Any]) -> Response:
    keys = await ctx_of(request).store.list_api_keys()
    return JSONResponse(
        {"api_keys": [api_key_json(k) for k in keys], "scopes": list(API_KEY_SCOPES)},
        headers=NO_STORE,
    )


async def create_key(request: Request, given: dict[str, Any]) -> Response:
    admin = _admin(request)
    body = given["body"]
    name = " ".join(body["name"].split())
    if not name:
        return JSONResponse(
            {"error": "invalid", "message": "name: give the key a name", "field": "name"},
            status_code=422,
            headers=NO_STORE,
        )
    scopes: list[ApiKeyScope] = [s for s in API_KEY_SCOPES if s in body["scopes"]]
    store = ctx_of(request).store
    secret, record = mint(name, scopes, admin.id)
    await store.add_api_key(record)
    await store.add_audit(
        "api_key_created",
        {"key_id": record.id, "name": name, "scopes": scopes},
        ts=iso_now(),
        actor=admin.username,
        actor_id=admin.id,
    )
    return JSONResponse(
        {"api_key": api_key_json(record), "secret": secret}, status_code=201, headers=NO_STORE
    )


async def revoke_key(request: Request, given: dict[str, Any]) -> Response:
    admin = _admin(request)
    store = ctx_of(request).store
    key = await store.get_api_key(given["key_id"])
    if key is None:
        return error(404, "not_found", f"no API key {given['key_id']!r}")
    revoked = await store.revoke_api_key(key.id, iso_now())
    if key.revoked_at is None:
        await store.add_audit(
            "api_key_revoked",
            {"key_id": key.id, "name": key.name},
            ts=iso_now(),
            actor=admin.username,
            actor_id=admin.id,
        )
    return JSONResponse({"api_key": api_key_json(revoked)}, headers=NO_STORE)


def _errors(*statuses: int) -> dict[int, tuple[str, Any]]:
    what = {
        401: "not signed in",
        403: "not an admin, or a cross-site request",
        404: "no such key",
        422: "a field is not valid; `field` names it",
    }
    return {s: (what[s], error_schema(s)) for s in (401, 403, *statuses)}


_KEY_ANSWER = obj({"api_key": API_KEY}, required=["api_key"])

OPERATIONS: list[Operation] = [
    Operation(
        "listApiKeys", "GET", "/api/v1/admin/api-keys", "List API keys (revoked ones too)",
        "Admin", list_keys, None,
        {200: ("every key, newest first", obj(
            {"api_keys": array(API_KEY), "scopes": array(string())},
            required=["api_keys", "scopes"])),
         **_errors()},
    ),
    Operation(
        "createApiKey", "POST", "/api/v1/admin/api-keys",
        "Create an API key (its secret is answered once, never again)",
        "Admin", create_key, None,
        {201: ("the key and its secret", obj(
            {"api_key": API_KEY,
             "secret": string("csk_<id>_<secret>: shown once", pattern="^csk_")},
            required=["api_key", "secret"])),
         **_errors(422)},
        body=Body(obj(
            {"name": string("the integration's name (not blank)", maxLength=MAX_NAME),
             "scopes": array(string(enum=list(API_KEY_SCOPES)), minItems=1, maxItems=3)},
            required=["name", "scopes"])),
    ),
    Operation(
        "revokeApiKey", "POST", "/api/v1/admin/api-keys/{key_id}/revoke",
        "Revoke an API key: it answers 401 at once, on every process",
        "Admin", revoke_key, None,
        {200: ("the revoked key (revoking twice keeps the first time)", _KEY_ANSWER),
         **_errors(404)},
        params=[Param("key_id", "path", string(maxLength=100), "the key's id")],
    ),
]  # fmt: skip
