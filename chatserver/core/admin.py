"""The admins' agent use-cases, one path for the admin pages and the command line.

`chatserver.web.admin_agents` (the admin API) and `chatserver agents …` (the command line)
check their input their own way (`chatserver.core.accounts`), then call these functions with
clean values. Each change is committed to the store first; then the agent's sessions are
revoked if the change calls for it, the router is told (a disabled agent goes offline, new
skills or capacity replace the agent's entry at once), every hub process is told through the
changes stream (`Hubs.announce`; they follow at their next tick), and the audit log records who
changed what (never a password). A refusal raises `AdminError` and changes nothing.

The hubs are reached through `Hubs`: a hub process's context is one; the command line builds
`Outside`, the hubs as a process that holds no socket sees them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import redis.asyncio as aioredis

import routing
from chatserver.core.accounts import AccountError, revokes_sessions
from chatserver.core.changes import announce
from chatserver.store import Store
from chatserver.store.base import (
    AgentRecord,
    AgentRole,
    ConflictError,
    JSONObject,
    iso_now,
)


class AdminError(Exception):
    """A change refused; nothing was changed. ``code`` is ``invalid``, ``conflict`` or
    ``not_found``; ``field`` names the input the message is about, when there is one."""

    def __init__(
        self,
        code: Literal["invalid", "conflict", "not_found"],
        message: str,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log names them: an admin, or ``cli``."""

    name: str
    id: str | None = None

    @classmethod
    def of(cls, agent: AgentRecord) -> Actor:
        return cls(agent.username, agent.id)


COMMAND_LINE = Actor("cli")


class Hubs(Protocol):
    """What a change needs of the running hubs."""

    @property
    def store(self) -> Store: ...

    @property
    def router(self) -> routing.Router | None:
        """None when no hub's Redis is within reach (no hub runs: nothing to tell)."""

    async def announce(self, kind: str, **fields: str) -> None:
        """Tell every hub process (``agent`` with ``agent_id``, ``revoke="1"``)."""

    async def refresh_agent(self, agent_id: str, *, revoke: bool = False) -> int:
        """Give this process's sockets of the agent the new record, or close them."""


@dataclass
class Outside:
    """The hubs as seen from a process outside them (the command line): the store, and the
    router and the changes stream when the hubs' Redis answers. It holds no sockets."""

    store: Store
    router: routing.Router | None = None
    redis: aioredis.Redis | None = None
    prefix: str = "{cs}"

    async def announce(self, kind: str, **fields: str) -> None:
        if self.redis is not None:
            await announce(self.redis, self.prefix, kind, **fields)

    async def refresh_agent(self, agent_id: str, *, revoke: bool = False) -> int:
        return 0


async def audit(hubs: Hubs, actor: Actor, action: str, details: JSONObject) -> None:
    """Record who changed what in the audit log (never a password)."""
    await hubs.store.add_audit(action, details, ts=iso_now(), actor=actor.name, actor_id=actor.id)


async def after_change(
    hubs: Hubs, agent: AgentRecord, changes: dict[str, Any], roles_before: tuple[str, ...]
) -> bool:
    """Revoke sessions if the change calls for it, tell the router, tell every process.
    Returns whether the agent's sessions were revoked."""
    now = time.time()
    revoke = revokes_sessions(changes, roles_before)
    if revoke:
        await hubs.store.revoke_agent_tokens(agent.id, iso_now(now))
    router = hubs.router
    if router is not None and agent.disabled:
        try:
            await router.set_status(agent.id, "offline", now)
        except routing.UnknownAgent:
            pass
    elif router is not None and ("skills" in changes or "capacity" in changes):
        if await router.agent(agent.id):
            # Redis is shared: the agent's hash changes for every process at once, and offers
            # it makes reach the agent's socket through the router's events, wherever it is.
            await router.upsert_agent(agent.id, dict(agent.skills), agent.capacity, now)
    fields = {"agent_id": agent.id, **({"revoke": "1"} if revoke else {})}
    await hubs.refresh_agent(agent.id, revoke=revoke)
    await hubs.announce("agent", **fields)
    return revoke


async def create_agent(
    hubs: Hubs,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    password_hash: str,
    skills: dict[str, int],
    capacity: int,
    roles: tuple[AgentRole, ...],
    password: Literal["generated", "given"],
) -> AgentRecord:
    """A new agent (offline until it signs in); `AdminError` if the username is taken."""
    agent = AgentRecord(
        id=uuid.uuid4().hex,
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        skills=skills,
        capacity=capacity,
        roles=roles,
        disabled=False,
        created_at=iso_now(),
    )
    try:
        await hubs.store.add_agent(agent)
    except ConflictError:
        raise AdminError("conflict", f"username {username!r} is taken", "username") from None
    await audit(
        hubs,
        actor,
        "agent_created",
        {
            "agent_id": agent.id,
            "username": agent.username,
            "roles": list(agent.roles),
            "skills": dict(agent.skills),
            "capacity": agent.capacity,
            "password": password,
        },
    )
    return agent


def check_own_roles(actor: Actor, agent: AgentRecord, roles: tuple[str, ...]) -> None:
    """An admin cannot take away their own admin role (`AccountError` on ``roles``)."""
    if agent.id == actor.id and "admin" not in roles:
        raise AccountError("roles", "you cannot take away your own admin role; ask another admin")


@dataclass(frozen=True)
class Changed:
    agent: AgentRecord
    #: The fields whose value changed, sorted; empty when the change changed nothing.
    changed: list[str]
    revoked: bool


async def change_agent(
    hubs: Hubs, actor: Actor, agent: AgentRecord, values: dict[str, Any]
) -> Changed:
    """Set any of ``display_name``, ``roles``, ``skills``, ``capacity`` (clean values); only
    those that differ are written, told and audited."""
    changes = {k: v for k, v in values.items() if _differs(agent, k, v)}
    if not changes:
        return Changed(agent, [], False)
    updated = await hubs.store.update_agent(agent.id, **changes)
    revoked = await after_change(hubs, updated, changes, tuple(agent.roles))
    shown = {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
    await audit(
        hubs,
        actor,
        "agent_changed",
        {"agent_id": agent.id, "username": agent.username, **shown, "revoked": revoked},
    )
    return Changed(updated, sorted(changes), revoked)


def _differs(agent: AgentRecord, field: str, value: Any) -> bool:
    if field == "skills":
        return bool(dict(agent.skills) != value)
    if field == "roles":
        return set(agent.roles) != set(value)
    return bool(getattr(agent, field) != value)


async def set_disabled(
    hubs: Hubs, actor: Actor, agent: AgentRecord, disabled: bool
) -> tuple[AgentRecord, bool]:
    """Disable (sessions revoked, out of routing) or enable an agent: (the record, revoked).
    Nobody disables themselves (`AdminError`)."""
    if disabled and agent.id == actor.id:
        raise AdminError("conflict", "you cannot disable yourself; ask another admin", "disabled")
    if agent.disabled == disabled:
        return agent, False
    updated = await hubs.store.update_agent(agent.id, disabled=disabled)
    revoked = await after_change(hubs, updated, {"disabled": disabled}, tuple(agent.roles))
    await audit(
        hubs,
        actor,
        "agent_disabled" if disabled else "agent_enabled",
        {"agent_id": agent.id, "username": agent.username},
    )
    return updated, revoked


async def reset_password(
    hubs: Hubs,
    actor: Actor,
    agent: AgentRecord,
    password_hash: str,
    password: Literal["generated", "given"],
) -> AgentRecord:
    """A new password (its hash): every session of the agent is revoked."""
    changes = {"password_hash": password_hash}
    updated = await hubs.store.update_agent(agent.id, **changes)
    await after_change(hubs, updated, changes, tuple(agent.roles))
    await audit(
        hubs,
        actor,
        "agent_password_reset",
        {"agent_id": agent.id, "username": agent.username, "password": password},
    )
    return updated


__all__ = [
    "COMMAND_LINE",
    "Actor",
    "AdminError",
    "Changed",
    "Hubs",
    "Outside",
    "after_change",
    "audit",
    "change_agent",
    "check_own_roles",
    "create_agent",
    "reset_password",
    "set_disabled",
]
