"""The admin pages and their topics API; the agents API is `chatserver.web.admin_agents`
(docs/admin.md).

Pages (server-rendered from `chatserver/web/assets/templates/admin_*.html`, scripts under
`chatserver/web/assets/static/admin/`); signed out → redirect to `/login`, signed in without the admin
role → 403:

- `GET /admin/agents` — agents: create, edit skills, capacity, roles and display name,
  disable and enable, reset a password.
- `GET /admin/topics` — topics (levels, priority, relaxation steps) and the languages offered.

API (bearer token or session cookie; 401 signed out, 403 without the admin role). A refused
input answers `{"error": code, "message": text, "field": name}` and changes nothing; `field`
names the input the message is about, so the page shows it there.

- `GET /api/v1/admin/agents`, `POST /api/v1/admin/agents`,
  `PATCH /api/v1/admin/agents/{id}`, `POST /api/v1/admin/agents/{id}/disable|enable|password`
- `GET /api/v1/admin/topics`, `POST /api/v1/admin/topics`, `PUT|DELETE /api/v1/admin/topics/{name}`,
  `PUT /api/v1/admin/languages`

Agent fields are checked by `chatserver.core.accounts`, the same checks as `chatserver agents …`;
the routing document by `routing.config.parse_config`, with its messages. The changes
themselves are the use-cases of `chatserver.core.admin` and `chatserver.core.admin_topics`:
committed to the store first, applied to the router, then announced to the other hub
processes (they follow at their next tick). These routes turn their refusals into answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import routing
from chatserver.context import HubContext
from chatserver.core.admin import Actor, AdminError
from chatserver.core.admin_topics import (
    change_topic,
    create_topic,
    delete_topic,
    open_counts,
    set_languages,
)
from chatserver.store.base import AgentRecord
from chatserver.web.kit import (
    NO_STORE,
    Refused,
    api,
    ctx_of,
    error,
    page,
    require_signed_in,
    signed_in,
)
from routing.config import to_document

_PATH_STEP = re.compile(r"\[(\d+)\]")
_STATUS = {"invalid": 400, "conflict": 409, "not_found": 404}


# --- who may ------------------------------------------------------------------------------


async def require_admin(request: Request) -> AgentRecord:
    agent = await require_signed_in(request)
    if "admin" not in agent.roles:
        raise Refused(error(403, "forbidden", "only an admin can manage agents and topics"))
    return agent


async def admin_page(request: Request, template: str, active: str) -> Response:
    agent = await signed_in(request)
    if agent is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
    if "admin" not in agent.roles:
        response = page("admin_forbidden.html", agent=agent, active="")
        response.status_code = 403
        return response
    return page(template, agent=agent, active=active)


async def agents_page(request: Request) -> Response:
    return await admin_page(request, "admin_agents.html", "agents")


async def topics_page(request: Request) -> Response:
    return await admin_page(request, "admin_topics.html", "topics")


# --- answers ------------------------------------------------------------------------------


def invalid(field: str, message: str, status: int = 400, code: str = "invalid") -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "field": field}, status_code=status, headers=NO_STORE
    )


def refusal(exc: AdminError) -> JSONResponse:
    """A use-case's refusal as the API answers it (with ``field`` when it names one)."""
    status = _STATUS[exc.code]
    if exc.field is None:
        return error(status, exc.code, str(exc))
    return invalid(exc.field, str(exc), status, exc.code)


async def read_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise Refused(error(400, "bad_request", "expected a JSON object")) from None
    if not isinstance(body, dict):
        raise Refused(error(400, "bad_request", "expected a JSON object"))
    return body


def ok(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=NO_STORE)


# --- topics and languages -----------------------------------------------------------------


async def topics_payload(ctx: HubContext) -> dict[str, Any]:
    config = ctx.routing_config
    document = to_document(config)
    waiting, active, in_use = await open_counts(ctx)
    stored = await ctx.store.get_routing_document()
    return {
        "version": ctx.routing_version,
        "source": "admin" if stored is not None else "file",
        "updated_at": stored.updated_at if stored is not None else None,
        "updated_by": stored.updated_by if stored is not None else None,
        "languages": [
            {"name": name, "open": in_use.get(name, 0)} for name in document["languages"]
        ],
        "topics": [
            {"name": name, **table, "waiting": waiting.get(name, 0), "active": active.get(name, 0)}
            for name, table in document["topics"].items()
        ],
        "max_level": routing.config.MAX_LEVEL,
    }


async def topics_list(request: Request) -> Response:
    await require_admin(request)
    return ok(await topics_payload(ctx_of(request)))


def config_field(message: str, topic: str | None) -> str:
    """The form field a parse_config message is about: `topics.t.relax[1].after_s: …` →
    `relax.1.after_s`; `topics.t: …` → `name`; `languages[2]: …` → `languages`."""
    path = message.split(":", 1)[0].strip()
    if path.startswith("languages"):
        return "languages"
    if topic is not None:
        prefix = f"topics.{topic}"
        if path == prefix:
            return "name"
        if path.startswith(prefix + "."):
            return _PATH_STEP.sub(r".\1", path[len(prefix) + 1 :])
    return "form"


async def edited(request: Request, topic: str | None, edit: Awaitable[int]) -> Response:
    """Run a routing edit (a use-case of `chatserver.core.admin_topics`) and answer with the
    topics as they are now, or with its refusal."""
    try:
        await edit
    except AdminError as exc:
        return refusal(exc)
    except routing.ConfigError as exc:
        message = str(exc)
        return invalid(config_field(message, topic), message)
    return ok(await topics_payload(ctx_of(request)))


def _topic_name(raw: object) -> str | None:
    return raw.strip().lower() if isinstance(raw, str) else None


def _table(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "name"}


async def topic_create(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    name = _topic_name(body.get("name"))
    if not name:
        return invalid("name", "name: give the topic a name (letters, digits, '_', '.', '-')")
    ctx = ctx_of(request)
    return await edited(request, name, create_topic(ctx, Actor.of(admin), name, _table(body)))


async def topic_update(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    name = request.path_params["name"]
    if "name" in body and _topic_name(body["name"]) != name:
        return invalid(
            "name", "name: a topic cannot be renamed; create the new one and delete this one"
        )
    ctx = ctx_of(request)
    return await edited(request, name, change_topic(ctx, Actor.of(admin), name, _table(body)))


async def topic_delete(request: Request) -> Response:
    admin = await require_admin(request)
    name = request.path_params["name"]
    return await edited(request, None, delete_topic(ctx_of(request), Actor.of(admin), name))


async def languages_update(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    raw = body.get("languages")
    if not isinstance(raw, list):
        return invalid("languages", 'languages: expected a list like ["en", "es"]')
    languages = [x.strip().lower() if isinstance(x, str) else x for x in raw]
    ctx = ctx_of(request)
    return await edited(request, None, set_languages(ctx, Actor.of(admin), languages))


def routes() -> list[BaseRoute]:
    """The admin pages and the topics API, to add to the hub's Starlette app."""
    return [
        Route("/admin/agents", agents_page, methods=["GET"]),
        Route("/admin/topics", topics_page, methods=["GET"]),
        Route("/api/v1/admin/topics", api(topics_list), methods=["GET"]),
        Route("/api/v1/admin/topics", api(topic_create), methods=["POST"]),
        Route("/api/v1/admin/topics/{name}", api(topic_update), methods=["PUT"]),
        Route("/api/v1/admin/topics/{name}", api(topic_delete), methods=["DELETE"]),
        Route("/api/v1/admin/languages", api(languages_update), methods=["PUT"]),
    ]


__all__ = [
    "admin_page",
    "config_field",
    "invalid",
    "ok",
    "read_object",
    "refusal",
    "require_admin",
    "routes",
]
