"""The admin API for agent accounts (docs/admin.md): the HTTP side of `chatserver.core.admin`.

- `GET /api/v1/admin/agents`, `POST /api/v1/admin/agents`,
  `PATCH /api/v1/admin/agents/{id}`, `POST /api/v1/admin/agents/{id}/disable|enable|password`

Fields are checked by `chatserver.core.accounts` (every refused field is answered at once,
``fields`` naming each); the change itself — store, sessions, router, the other processes, the
audit log — is `chatserver.core.admin`'s, the same the command line makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import routing
from chatserver.context import HubContext
from chatserver.core import admin as core
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
)
from chatserver.store.base import AgentRecord
from chatserver.web.admin import invalid, ok, read_object, refusal, require_admin
from chatserver.web.kit import NO_STORE, Refused, agent_json, api, ctx_of, error


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
    try:
        agent = await core.create_agent(
            ctx,
            core.Actor.of(admin),
            username=username,
            display_name=display_name,
            password_hash=await ctx.passwords.run(hash_password, password),
            skills=values["skills"],
            capacity=values["capacity"],
            roles=values["roles"],
            password="generated" if generated else "given",
        )
    except core.AdminError as exc:
        return refusal(exc)
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


async def agent_update(request: Request) -> Response:
    admin = await require_admin(request)
    target = await require_target(request)
    body = await read_object(request)
    ctx = ctx_of(request)
    actor = core.Actor.of(admin)
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
    if "roles" in values and "roles" not in problems:
        _, own = collect([("roles", lambda: core.check_own_roles(actor, target, values["roles"]))])
        problems.update(own)
    if problems:
        return refused(problems)
    done = await core.change_agent(ctx, actor, target, values)
    return ok(
        {
            "agent": await agent_view(ctx, done.agent),
            "changed": done.changed,
            "revoked": done.revoked,
        }
    )


async def agent_disable(request: Request) -> Response:
    return await _set_disabled(request, True)


async def agent_enable(request: Request) -> Response:
    return await _set_disabled(request, False)


async def _set_disabled(request: Request, disabled: bool) -> Response:
    admin = await require_admin(request)
    target = await require_target(request)
    ctx = ctx_of(request)
    try:
        updated, revoked = await core.set_disabled(ctx, core.Actor.of(admin), target, disabled)
    except core.AdminError as exc:
        return refusal(exc)
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
    updated = await core.reset_password(
        ctx,
        core.Actor.of(admin),
        target,
        await ctx.passwords.run(hash_password, password),
        "generated" if generated else "given",
    )
    return ok(
        {
            "agent": await agent_view(ctx, updated),
            "password": password if generated else None,
            "revoked": True,
        }
    )


def routes() -> list[BaseRoute]:
    """The agents API, to add to the hub's Starlette app."""
    return [
        Route("/api/v1/admin/agents", api(agents_list), methods=["GET"]),
        Route("/api/v1/admin/agents", api(agent_create), methods=["POST"]),
        Route("/api/v1/admin/agents/{agent_id}", api(agent_update), methods=["PATCH"]),
        Route("/api/v1/admin/agents/{agent_id}/disable", api(agent_disable), methods=["POST"]),
        Route("/api/v1/admin/agents/{agent_id}/enable", api(agent_enable), methods=["POST"]),
        Route("/api/v1/admin/agents/{agent_id}/password", api(agent_password), methods=["POST"]),
    ]


__all__ = ["routes"]
