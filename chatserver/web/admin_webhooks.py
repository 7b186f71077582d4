"""Webhook endpoints for admins (docs/webhooks.md): the page and its API.

- `GET /admin/webhooks` — the page: endpoints, their delivery log, "Redeliver".
- `GET|POST /api/v1/admin/webhooks`, `GET|PATCH|DELETE /api/v1/admin/webhooks/{id}`,
  `GET /api/v1/admin/webhooks/{id}/deliveries[?before=ID&limit=N]`,
  `GET /api/v1/admin/webhooks/{id}/deliveries/{delivery}` (with its attempts and body),
  `POST /api/v1/admin/webhooks/{id}/deliveries/{delivery}/redeliver`

Admins only (session cookie or bearer token); the cross-site guard refuses foreign pages'
writes. A refused input answers ``{"error", "message", "field"}`` and changes nothing. The
secret is generated (``whsec_…``) unless given, shown when created and to admins who open the
endpoint; ``{"rotate_secret": true}`` replaces it. Every change is in the audit log.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from chatserver.store.base import NotFoundError, iso_now
from chatserver.store.webhooks import WEBHOOK_TYPES, WebhookDelivery, WebhookEndpoint
from chatserver.web.admin import admin_page, invalid, ok, read_object, require_admin
from chatserver.web.kit import Refused, api, ctx_of, error
from chatserver.webhooks import TargetError, check_url

__all__ = ["routes"]

#: Endpoints a hub keeps at most: each one is a row per event in the outbox.
MAX_ENDPOINTS = 20
MAX_DESCRIPTION = 200
MIN_SECRET, MAX_SECRET = 16, 200
MAX_LOG_PAGE = 200


def endpoint_json(w: WebhookEndpoint, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": w.id,
        "url": w.url,
        "events": list(w.events),
        "description": w.description,
        "enabled": w.enabled,
        "created_at": w.created_at,
        "updated_at": w.updated_at,
    }
    if counts is not None:
        out["deliveries"] = {s: counts.get(s, 0) for s in ("pending", "delivered", "failed")}
    return out


def delivery_json(d: WebhookDelivery) -> dict[str, Any]:
    last = d.last
    return {
        "id": d.id,
        "type": d.type,
        "conversation_id": d.conversation_id,
        "seq": d.seq,
        "created_at": d.created_at,
        "state": d.state,
        "attempts": d.attempts,
        "next_at": d.next_at if d.state == "pending" else None,
        "finished_at": d.finished_at,
        "redelivery_of": d.redelivery_of,
        "last": None
        if last is None
        else {
            "ts": last.ts,
            "status_code": last.status_code,
            "latency_ms": last.latency_ms,
            "error": last.error,
            "response": last.response,
        },
    }


def _events(raw: object) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) for e in raw):
        raise Refused(invalid("events", "events: choose at least one event type"))
    unknown = [e for e in raw if e not in WEBHOOK_TYPES]
    if unknown:
        raise Refused(
            invalid(
                "events", f"events: unknown type {unknown[0]!r}; one of {', '.join(WEBHOOK_TYPES)}"
            )
        )
    return list(dict.fromkeys(raw))


def _description(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw.strip()) > MAX_DESCRIPTION:
        raise Refused(
            invalid("description", f"description: text of at most {MAX_DESCRIPTION} characters")
        )
    return raw.strip()


def _secret(raw: object) -> str:
    if raw is None or raw == "":
        return "whsec_" + secrets.token_urlsafe(32)
    if (
        not isinstance(raw, str)
        or not MIN_SECRET <= len(raw) <= MAX_SECRET
        or not raw.isprintable()
        or raw.strip() != raw
    ):
        raise Refused(
            invalid(
                "secret",
                f"secret: {MIN_SECRET} to {MAX_SECRET} printable characters, or leave it empty to have one made",
            )
        )
    return raw


def _url(request: Request, raw: object) -> str:
    try:
        return check_url(raw, ctx_of(request).settings.webhook_allow_networks)
    except TargetError as exc:
        raise Refused(invalid("url", str(exc))) from None


def _enabled(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise Refused(invalid("enabled", "enabled: true or false"))
    return raw


async def _endpoint(request: Request) -> WebhookEndpoint:
    found = await ctx_of(request).store.get_webhook(request.path_params["webhook_id"])
    if found is None:
        raise Refused(error(404, "not_found", "no such webhook endpoint"))
    return found


async def webhooks_page(request: Request) -> Response:
    return await admin_page(request, "admin_webhooks.html", "webhooks")


async def webhooks_list(request: Request) -> Response:
    await require_admin(request)
    store = ctx_of(request).store
    counts = await store.webhook_counts()
    return ok(
        {
            "webhooks": [
                endpoint_json(w, counts.get(w.id, {})) for w in await store.list_webhooks()
            ],
            "types": list(WEBHOOK_TYPES),
            "max": MAX_ENDPOINTS,
        }
    )


async def webhook_create(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    store = ctx_of(request).store
    url = _url(request, body.get("url"))
    events = _events(body.get("events"))
    description = _description(body.get("description"))
    secret = _secret(body.get("secret"))
    enabled = _enabled(body.get("enabled", True))
    if len(await store.list_webhooks()) >= MAX_ENDPOINTS:
        return error(
            409,
            "conflict",
            f"a hub keeps at most {MAX_ENDPOINTS} webhook endpoints; delete one first",
        )
    now = iso_now()
    endpoint = WebhookEndpoint(
        id="wh_" + uuid.uuid4().hex[:20],
        url=url,
        secret=secret,
        events=tuple(events),
        created_at=now,
        updated_at=now,
        description=description,
        enabled=enabled,
    )
    await store.add_webhook(endpoint)
    await store.add_audit(
        "webhook_created",
        {"webhook_id": endpoint.id, "url": url, "events": events},
        ts=now,
        actor=admin.username,
        actor_id=admin.id,
    )
    return ok({"webhook": {**endpoint_json(endpoint, {}), "secret": secret}}, status=201)


async def webhook_get(request: Request) -> Response:
    await require_admin(request)
    endpoint = await _endpoint(request)
    counts = (await ctx_of(request).store.webhook_counts()).get(endpoint.id, {})
    return ok({"webhook": {**endpoint_json(endpoint, counts), "secret": endpoint.secret}})


async def webhook_update(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    endpoint = await _endpoint(request)
    unknown = set(body) - {"url", "events", "description", "enabled", "rotate_secret", "secret"}
    if unknown:
        return invalid(sorted(unknown)[0], f"{sorted(unknown)[0]}: not a field of an endpoint")
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = _url(request, body["url"])
    if "events" in body:
        changes["events"] = _events(body["events"])
    if "description" in body:
        changes["description"] = _description(body["description"])
    if "enabled" in body:
        changes["enabled"] = _enabled(body["enabled"])
    if "secret" in body:
        changes["secret"] = _secret(body["secret"])
    elif body.get("rotate_secret") is True:
        changes["secret"] = _secret(None)
    elif "rotate_secret" in body and body["rotate_secret"] is not False:
        return invalid("rotate_secret", "rotate_secret: true or false")
    now = iso_now()
    store = ctx_of(request).store
    try:
        changed = await store.update_webhook(endpoint.id, **changes, updated_at=now)
    except NotFoundError:
        return error(404, "not_found", "no such webhook endpoint")
    shown = {k: v for k, v in changes.items() if k != "secret"}
    await store.add_audit(
        "webhook_changed",
        {
            "webhook_id": endpoint.id,
            **shown,
            **({"secret": "rotated"} if "secret" in changes else {}),
        },
        ts=now,
        actor=admin.username,
        actor_id=admin.id,
    )
    counts = (await store.webhook_counts()).get(endpoint.id, {})
    return ok({"webhook": {**endpoint_json(changed, counts), "secret": changed.secret}})


async def webhook_delete(request: Request) -> Response:
    admin = await require_admin(request)
    endpoint = await _endpoint(request)
    store = ctx_of(request).store
    bot = next((b for b in await store.list_bots() if b.endpoint_id == endpoint.id), None)
    if bot is not None:
        message = f"the bot {bot.name!r} hears its conversations here; change or delete it first"
        return error(409, "conflict", message)
    await store.delete_webhook(endpoint.id)
    await store.add_audit(
        "webhook_deleted",
        {"webhook_id": endpoint.id, "url": endpoint.url},
        ts=iso_now(),
        actor=admin.username,
        actor_id=admin.id,
    )
    return Response(status_code=204)


def _int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Refused(error(400, "bad_request", f"{name}: a whole number from {low} to {high}"))
    return value


async def deliveries_list(request: Request) -> Response:
    await require_admin(request)
    endpoint = await _endpoint(request)
    limit = _int_param(request, "limit", 50, 1, MAX_LOG_PAGE) or 50
    before = _int_param(request, "before", None, 1, 2**62)
    rows = await ctx_of(request).store.webhook_deliveries(
        endpoint.id, limit=limit, before_id=before
    )
    return ok(
        {
            "deliveries": [delivery_json(d) for d in rows],
            "next_before": rows[-1].id if len(rows) == limit else None,
        }
    )


async def _delivery(request: Request, endpoint: WebhookEndpoint) -> WebhookDelivery:
    try:
        wanted = int(request.path_params["delivery_id"])
    except ValueError:
        raise Refused(error(404, "not_found", "no such delivery")) from None
    rows = await ctx_of(request).store.webhook_deliveries(
        endpoint.id, limit=1, before_id=wanted + 1
    )
    if not rows or rows[0].id != wanted:
        raise Refused(error(404, "not_found", "no such delivery of this endpoint"))
    return rows[0]


async def delivery_get(request: Request) -> Response:
    await require_admin(request)
    endpoint = await _endpoint(request)
    d = await _delivery(request, endpoint)
    attempts = await ctx_of(request).store.webhook_attempts(d.id)
    return ok(
        {
            "delivery": {
                **delivery_json(d),
                "body": d.body,
                "attempts": [
                    {
                        "ts": a.ts,
                        "status_code": a.status_code,
                        "latency_ms": a.latency_ms,
                        "error": a.error,
                        "response": a.response,
                    }
                    for a in attempts
                ],
            }
        }
    )


async def delivery_redeliver(request: Request) -> Response:
    admin = await require_admin(request)
    endpoint = await _endpoint(request)
    d = await _delivery(request, endpoint)
    if d.state == "pending":
        return error(409, "conflict", "this delivery is still being tried; wait for it to finish")
    store = ctx_of(request).store
    now = iso_now()
    again = await store.redeliver(d.id, ts=now, now=0.0)
    await store.add_audit(
        "webhook_redelivered",
        {"webhook_id": endpoint.id, "delivery_id": d.id, "new_delivery_id": again.id},
        ts=now,
        actor=admin.username,
        actor_id=admin.id,
    )
    return ok({"delivery": delivery_json(again)}, status=201)


def routes() -> list[BaseRoute]:
    base = "/api/v1/admin/webhooks"
    one = base + "/{webhook_id}"
    return [
        Route("/admin/webhooks", webhooks_page, methods=["GET"]),
        Route(base, api(webhooks_list), methods=["GET"]),
        Route(base, api(webhook_create), methods=["POST"]),
        Route(one, api(webhook_get), methods=["GET"]),
        Route(one, api(webhook_update), methods=["PATCH"]),
        Route(one, api(webhook_delete), methods=["DELETE"]),
        Route(one + "/deliveries", api(deliveries_list), methods=["GET"]),
        Route(one + "/deliveries/{delivery_id}", api(delivery_get), methods=["GET"]),
        Route(
            one + "/deliveries/{delivery_id}/redeliver", api(delivery_redeliver), methods=["POST"]
        ),
    ]
