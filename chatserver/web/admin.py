"""The admin pages and their API: agent accounts and the routing topics (docs/admin.md).

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
the routing document by `routing.config.parse_config`, with its messages. Every change is
committed to the store first, applied to the router, then announced to the other hub
processes (`HubContext.announce`; they follow at their next tick).
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import routing
from chatserver.context import HubContext, stored_routing
from chatserver.core.accounts import (
    MAX_CAPACITY,
    MIN_CAPACITY,
    ROLES,
    AccountError,
    check_capacity,
    check_display_name,
    check_password,
    check_roles,
    check_skills,
    check_username,
    generate_password,
    hash_password,
    revokes_sessions,
)
from chatserver.store.base import (
    AgentRecord,
    ConflictError,
    DataLifecycle,
    JSONObject,
    RoutingDocuments,
    iso_now,
)
from chatserver.web.kit import (
    NO_STORE,
    Refused,
    agent_json,
    api,
    ctx_of,
    error,
    page,
    require_signed_in,
    signed_in,
)
from routing.config import apply_document, to_document

OPEN_STATUSES = frozenset({"queued", "offered", "active"})
_PATH_STEP = re.compile(r"\[(\d+)\]")
_DOCUMENT_ATTEMPTS = 20


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


# --- small helpers ------------------------------------------------------------------------


def invalid(field: str, message: str, status: int = 400, code: str = "invalid") -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "field": field}, status_code=status, headers=NO_STORE
    )


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


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def documents(ctx: HubContext) -> RoutingDocuments:
    return cast(RoutingDocuments, ctx.store)


# --- agents -------------------------------------------------------------------------------


def skill_names(ctx: HubContext) -> list[str]:
    """The skills an agent may have: the configured topics, then the languages."""
    return [*ctx.routing_config.topics, *ctx.routing_config.languages]


def admin_agent_json(agent: AgentRecord, state: routing.AgentState | None) -> dict[str, Any]:
    status = state.status if state is not None and not agent.disabled else "offline"
    return {
        **agent_json(agent),
        "disabled": agent.disabled,
        "status": status,
        "load": state.load if state is not None else 0,
        "created_at": agent.created_at,
    }


async def agent_view(ctx: HubContext, agent: AgentRecord) -> dict[str, Any]:
    return admin_agent_json(agent, await ctx.router.agent(agent.id))


async def agents_list(request: Request) -> Response:
    admin = await require_admin(request)
    ctx = ctx_of(request)
    records = await ctx.store.list_agents()
    states = {s.agent_id: s for s in await ctx.router.agents()}
    return ok(
        {
            "agents": [admin_agent_json(a, states.get(a.id)) for a in records],
            "topics": list(ctx.routing_config.topics),
            "languages": list(ctx.routing_config.languages),
            "roles": list(ROLES),
            "capacity": {"min": MIN_CAPACITY, "max": MAX_CAPACITY},
            "me": admin.id,
        }
    )


def collect(
    checks: list[tuple[str, Callable[[], Any]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run every check; the values that passed and the message of each field that did not."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, check in checks:
        try:
            values[name] = check()
        except AccountError as exc:
            problems.setdefault(exc.field, str(exc))
    return values, problems


def refused(problems: dict[str, str], status: int = 400, code: str = "invalid") -> JSONResponse:
    field, message = next(iter(problems.items()))
    return JSONResponse(
        {"error": code, "message": message, "field": field, "fields": problems},
        status_code=status,
        headers=NO_STORE,
    )


async def audit(ctx: HubContext, admin: AgentRecord, action: str, details: JSONObject) -> None:
    """Record who changed what in the audit log (never a password)."""
    store = cast(DataLifecycle, ctx.store)
    await store.add_audit(action, details, ts=iso_now(), actor=admin.username, actor_id=admin.id)


async def agent_create(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    ctx = ctx_of(request)
    raw_password = body.get("password")
    generated = raw_password is None or raw_password == ""
    values, problems = collect(
        [
            ("username", lambda: check_username(body.get("username"))),
            ("roles", lambda: check_roles(_list(body.get("roles", []), "roles"))),
            ("skills", lambda: check_skills(_skills(body.get("skills", {})), skill_names(ctx))),
            ("capacity", lambda: check_capacity(body.get("capacity"))),
            (
                "password",
                lambda: generate_password() if generated else check_password(raw_password),
            ),
        ]
    )
    username = values.get("username", "")
    try:
        display_name = check_display_name(body.get("display_name"), username)
    except AccountError as exc:
        problems.setdefault(exc.field, str(exc))
    if username and "username" not in problems:
        if await ctx.store.get_agent_by_username(username) is not None:
            problems["username"] = f"username {username!r} is taken"
    if problems:
        if set(problems) == {"username"} and problems["username"].endswith("is taken"):
            return refused(problems, 409, "conflict")
        return refused(problems)
    password: str = values["password"]
    hashed = await ctx_of(request).passwords.run(hash_password, password)
    agent = AgentRecord(
        id=uuid.uuid4().hex,
        username=username,
        display_name=display_name,
        password_hash=hashed,
        skills=values["skills"],
        capacity=values["capacity"],
        roles=values["roles"],
        disabled=False,
        created_at=iso_now(),
    )
    try:
        await ctx.store.add_agent(agent)
    except ConflictError:
        return invalid("username", f"username {username!r} is taken", 409, "conflict")
    await audit(
        ctx,
        admin,
        "agent_created",
        {
            "agent_id": agent.id,
            "username": agent.username,
            "roles": list(agent.roles),
            "skills": dict(agent.skills),
            "capacity": agent.capacity,
            "password": "generated" if generated else "given",
        },
    )
    return ok(
        {"agent": await agent_view(ctx, agent), "password": password if generated else None},
        201,
    )


def _list(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise AccountError(field, f"{field} must be a list")
    return value


def _skills(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise AccountError("skills", 'skills must be an object like {"billing": 5, "en": 3}')
    return value


async def require_target(request: Request) -> AgentRecord:
    agent_id = request.path_params["agent_id"]
    agent = await ctx_of(request).store.get_agent(agent_id)
    if agent is None:
        raise Refused(error(404, "not_found", f"no agent {agent_id!r}"))
    return agent


async def after_change(
    ctx: HubContext, agent: AgentRecord, changes: dict[str, Any], roles_before: tuple[str, ...]
) -> bool:
    """Revoke sessions if the change calls for it, tell the router, tell every process.
    Returns whether the agent's sessions were revoked."""
    now = time.time()
    revoke = revokes_sessions(changes, roles_before)
    if revoke:
        await ctx.store.revoke_agent_tokens(agent.id, iso_now(now))
    if agent.disabled:
        try:
            await ctx.router.set_status(agent.id, "offline", now)
        except routing.UnknownAgent:
            pass
    elif ("skills" in changes or "capacity" in changes) and await ctx.router.agent(agent.id):
        # Redis is shared: the agent's hash changes for every process at once, and offers it
        # makes reach the agent's socket through the router's events, wherever it is held.
        await ctx.router.upsert_agent(agent.id, dict(agent.skills), agent.capacity, now)
    fields = {"agent_id": agent.id, **({"revoke": "1"} if revoke else {})}
    await ctx.refresh_agent(agent.id, revoke=revoke)
    await ctx.announce("agent", **fields)
    return revoke


async def agent_update(request: Request) -> Response:
    admin = await require_admin(request)
    target = await require_target(request)
    body = await read_object(request)
    ctx = ctx_of(request)
    checks: list[tuple[str, Callable[[], Any]]] = []
    if "display_name" in body:
        checks.append(
            ("display_name", lambda: check_display_name(body["display_name"], target.username))
        )
    if "roles" in body:
        checks.append(("roles", lambda: check_roles(_list(body["roles"], "roles"))))
    if "skills" in body:
        checks.append(
            (
                "skills",
                lambda: check_skills(
                    _skills(body["skills"]), skill_names(ctx), kept=tuple(target.skills)
                ),
            )
        )
    if "capacity" in body:
        checks.append(("capacity", lambda: check_capacity(body["capacity"])))
    unknown = sorted(set(body) - {"display_name", "roles", "skills", "capacity"})
    if unknown:
        return invalid(
            unknown[0],
            f"{unknown[0]}: cannot be changed here (display_name, roles, skills, capacity)",
        )
    values, problems = collect(checks)
    if (
        "roles" in values
        and target.id == admin.id
        and "admin" not in values["roles"]
        and "roles" not in problems
    ):
        problems["roles"] = "you cannot take away your own admin role; ask another admin"
    if problems:
        return refused(problems)
    changes = {k: v for k, v in values.items() if _differs(target, k, v)}
    if not changes:
        return ok({"agent": await agent_view(ctx, target), "changed": [], "revoked": False})
    updated = await ctx.store.update_agent(target.id, **changes)
    revoked = await after_change(ctx, updated, changes, tuple(target.roles))
    shown = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
    await audit(
        ctx,
        admin,
        "agent_changed",
        {"agent_id": target.id, "username": target.username, **shown, "revoked": revoked},
    )
    return ok(
        {"agent": await agent_view(ctx, updated), "changed": sorted(changes), "revoked": revoked}
    )


def _differs(agent: AgentRecord, field: str, value: Any) -> bool:
    if field == "skills":
        return bool(dict(agent.skills) != value)
    if field == "roles":
        return set(agent.roles) != set(value)
    return bool(getattr(agent, field) != value)


async def agent_disable(request: Request) -> Response:
    return await _set_disabled(request, True)


async def agent_enable(request: Request) -> Response:
    return await _set_disabled(request, False)


async def _set_disabled(request: Request, disabled: bool) -> Response:
    admin = await require_admin(request)
    target = await require_target(request)
    if disabled and target.id == admin.id:
        return invalid(
            "disabled", "you cannot disable yourself; ask another admin", 409, "conflict"
        )
    ctx = ctx_of(request)
    if target.disabled == disabled:
        return ok({"agent": await agent_view(ctx, target), "revoked": False})
    updated = await ctx.store.update_agent(target.id, disabled=disabled)
    revoked = await after_change(ctx, updated, {"disabled": disabled}, tuple(target.roles))
    await audit(
        ctx,
        admin,
        "agent_disabled" if disabled else "agent_enabled",
        {"agent_id": target.id, "username": target.username},
    )
    return ok({"agent": await agent_view(ctx, updated), "revoked": revoked})


async def agent_password(request: Request) -> Response:
    admin = await require_admin(request)
    target = await require_target(request)
    body = await read_object(request)
    raw = body.get("password")
    generated = raw is None or raw == ""
    try:
        password = generate_password() if generated else check_password(raw)
    except AccountError as exc:
        return invalid(exc.field, str(exc))
    ctx = ctx_of(request)
    changes = {"password_hash": await ctx.passwords.run(hash_password, password)}
    updated = await ctx.store.update_agent(target.id, **changes)
    await after_change(ctx, updated, changes, tuple(target.roles))
    await audit(
        ctx,
        admin,
        "agent_password_reset",
        {
            "agent_id": target.id,
            "username": target.username,
            "password": "generated" if generated else "given",
        },
    )
    return ok(
        {
            "agent": await agent_view(ctx, updated),
            "password": password if generated else None,
            "revoked": True,
        }
    )


# --- topics and languages -----------------------------------------------------------------


async def open_counts(ctx: HubContext) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Open conversations: (waiting by topic, active by topic, open by language)."""
    waiting: Counter[str] = Counter()
    active: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    for conv in await ctx.store.list_conversations(status=set(OPEN_STATUSES)):
        (active if conv.status == "active" else waiting)[conv.topic] += 1
        languages[conv.language] += 1
    return waiting, active, languages


async def topics_payload(ctx: HubContext) -> dict[str, Any]:
    config = ctx.routing_config
    document = to_document(config)
    waiting, active, in_use = await open_counts(ctx)
    stored = await documents(ctx).get_routing_document()
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


Change = Callable[[dict[str, Any], HubContext], Awaitable[Response | None]]


async def edit_document(
    request: Request, admin: AgentRecord, change: Change, topic: str | None, what: JSONObject
) -> Response:
    """Read the routing document, let ``change`` edit a copy (or refuse), validate it with
    parse_config, store it if nobody else changed it meanwhile (else start again), switch this
    process to it and announce it to the others."""
    ctx = ctx_of(request)
    async with ctx.routing_edits:
        return await _edit_document(ctx, admin, change, topic, what)


async def _edit_document(
    ctx: HubContext, admin: AgentRecord, change: Change, topic: str | None, what: JSONObject
) -> Response:
    base = ctx.file_routing_config or ctx.routing_config
    for attempt in range(_DOCUMENT_ATTEMPTS):
        if attempt:
            await asyncio.sleep(random.uniform(0, 0.01 * attempt))
        current, version = await stored_routing(ctx.store, base)
        document = copy.deepcopy(to_document(current))
        refusal = await change(document, ctx)
        if refusal is not None:
            return refusal
        try:
            config = apply_document(base, document)
        except routing.ConfigError as exc:
            message = str(exc)
            return invalid(config_field(message, topic), message)
        try:
            stored = await documents(ctx).put_routing_document(
                to_document(config), expected_version=version, ts=iso_now(), by=admin.username
            )
        except ConflictError:
            continue  # another admin's edit landed first: apply ours to theirs
        await ctx.apply_routing(config, stored.version, time.time())
        await ctx.announce("routing", version=str(stored.version))
        await audit(ctx, admin, "routing_edited", {**what, "version": stored.version})
        return ok(await topics_payload(ctx))
    return error(409, "conflict", "the topics keep changing under this edit; try again")


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

    async def change(document: dict[str, Any], ctx: HubContext) -> Response | None:
        if name in document["topics"]:
            return invalid(
                "name", f"topics.{name}: a topic of that name exists already", 409, "conflict"
            )
        document["topics"][name] = _table(body)
        return None

    return await edit_document(
        request, admin, change, name, {"change": "topic_created", "topic": name, **_table(body)}
    )


async def topic_update(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    name = request.path_params["name"]
    if "name" in body and _topic_name(body["name"]) != name:
        return invalid(
            "name", "name: a topic cannot be renamed; create the new one and delete this one"
        )

    async def change(document: dict[str, Any], ctx: HubContext) -> Response | None:
        if name not in document["topics"]:
            return error(404, "not_found", f"no topic {name!r}")
        document["topics"][name] = _table(body)
        return None

    return await edit_document(
        request, admin, change, name, {"change": "topic_changed", "topic": name, **_table(body)}
    )


async def topic_delete(request: Request) -> Response:
    admin = await require_admin(request)
    name = request.path_params["name"]

    async def change(document: dict[str, Any], ctx: HubContext) -> Response | None:
        if name not in document["topics"]:
            return error(404, "not_found", f"no topic {name!r}")
        waiting, active, _ = await open_counts(ctx)
        if waiting[name] or active[name]:
            return invalid(
                "form",
                f"topic {name!r} has {waiting[name]} waiting and {active[name]} active "
                "conversations; delete it once they are closed",
                409,
                "conflict",
            )
        del document["topics"][name]
        return None

    return await edit_document(
        request, admin, change, None, {"change": "topic_deleted", "topic": name}
    )


async def languages_update(request: Request) -> Response:
    admin = await require_admin(request)
    body = await read_object(request)
    raw = body.get("languages")
    if not isinstance(raw, list):
        return invalid("languages", 'languages: expected a list like ["en", "es"]')
    languages = [x.strip().lower() if isinstance(x, str) else x for x in raw]

    async def change(document: dict[str, Any], ctx: HubContext) -> Response | None:
        _, _, in_use = await open_counts(ctx)
        gone = [x for x in document["languages"] if x not in languages and in_use[x]]
        if gone:
            return invalid(
                "languages",
                f"language {gone[0]!r} has {plural(in_use[gone[0]], 'open conversation')}; "
                "remove it once they are closed",
                409,
                "conflict",
            )
        document["languages"] = languages
        return None

    return await edit_document(
        request, admin, change, None, {"change": "languages", "languages": languages}
    )


def routes() -> list[BaseRoute]:
    """The admin pages and API, to add to the hub's Starlette app."""
    return [
        Route("/admin/agents", agents_page, methods=["GET"]),
        Route("/admin/topics", topics_page, methods=["GET"]),
        Route("/api/v1/admin/agents", api(agents_list), methods=["GET"]),
        Route("/api/v1/admin/agents", api(agent_create), methods=["POST"]),
        Route("/api/v1/admin/agents/{agent_id}", api(agent_update), methods=["PATCH"]),
        Route("/api/v1/admin/agents/{agent_id}/disable", api(agent_disable), methods=["POST"]),
        Route("/api/v1/admin/agents/{agent_id}/enable", api(agent_enable), methods=["POST"]),
        Route("/api/v1/admin/agents/{agent_id}/password", api(agent_password), methods=["POST"]),
        Route("/api/v1/admin/topics", api(topics_list), methods=["GET"]),
        Route("/api/v1/admin/topics", api(topic_create), methods=["POST"]),
        Route("/api/v1/admin/topics/{name}", api(topic_update), methods=["PUT"]),
        Route("/api/v1/admin/topics/{name}", api(topic_delete), methods=["DELETE"]),
        Route("/api/v1/admin/languages", api(languages_update), methods=["PUT"]),
    ]


__all__ = ["config_field", "routes"]
