"""Agent accounts: the checks every way of creating or changing one goes through.

`chatserver agents add/set` (the command line) and the admin pages' API
(`chatserver.admin_routes`) accept the same fields with the same rules, so both call these
functions. Each check returns the clean value or raises `AccountError`, whose ``field`` names
the input it is about (the admin page shows the message next to that field) and whose message
reads well on its own (the command line prints it as is).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import cast

from chatserver.auth import ROLES, check_password_policy, parse_skills
from chatserver.store.base import AgentRole

MIN_CAPACITY = 1
MAX_CAPACITY = 50
MAX_USERNAME = 64
MAX_DISPLAY_NAME = 100
MIN_LEVEL = 1
MAX_LEVEL = 5


class AccountError(ValueError):
    """A field of an agent account is refused; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_username(raw: object) -> str:
    username = raw.strip() if isinstance(raw, str) else ""
    if not username or len(username) > MAX_USERNAME or any(c.isspace() for c in username):
        raise AccountError(
            "username", f"username must be 1..{MAX_USERNAME} characters without spaces"
        )
    return username


def check_display_name(raw: object, username: str) -> str:
    """The name visitors see; empty means the username."""
    if raw is None:
        return username
    if not isinstance(raw, str):
        raise AccountError("display_name", "display name must be text")
    name = " ".join(raw.split())
    if len(name) > MAX_DISPLAY_NAME:
        raise AccountError(
            "display_name", f"display name must be at most {MAX_DISPLAY_NAME} characters"
        )
    return name or username


def check_capacity(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise AccountError(
            "capacity", f"capacity must be a whole number {MIN_CAPACITY}..{MAX_CAPACITY}"
        )
    if not MIN_CAPACITY <= raw <= MAX_CAPACITY:
        raise AccountError("capacity", f"capacity must be {MIN_CAPACITY}..{MAX_CAPACITY}")
    return raw


def check_roles(raw: Iterable[object] | None) -> tuple[AgentRole, ...]:
    """At least one role, each one of `ROLES`; duplicates dropped, order kept."""
    roles: list[str] = []
    for role in raw or ():
        if not isinstance(role, str) or role not in ROLES:
            raise AccountError("roles", f"role {role!r} is unknown; roles: {', '.join(ROLES)}")
        if role not in roles:
            roles.append(role)
    if not roles:
        raise AccountError("roles", f"give at least one role ({', '.join(ROLES)})")
    return cast(tuple[AgentRole, ...], tuple(roles))


def check_skills(
    raw: str | Mapping[str, object],
    known: Collection[str] | None = None,
    *,
    kept: Collection[str] = (),
) -> dict[str, int]:
    """Skills as ``billing:5,en:3`` (the command line) or ``{"billing": 5, "en": 3}``: levels
    1..5, at least one. With ``known`` (the configured topics and languages) any other name is
    refused, except those in ``kept`` (skills an agent has already, for a topic since removed)."""
    if isinstance(raw, str):
        try:
            skills = parse_skills(raw)
        except ValueError as exc:
            raise AccountError("skills", str(exc)) from None
    else:
        skills = {}
        for name, level in raw.items():
            key = name.strip().lower() if isinstance(name, str) else ""
            if not key:
                raise AccountError("skills", f"skill {name!r}: a skill needs a name")
            if isinstance(level, bool) or not isinstance(level, int):
                raise AccountError(
                    "skills",
                    f"skill {key!r}: level must be a whole number {MIN_LEVEL}..{MAX_LEVEL}",
                )
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise AccountError(
                    "skills", f"skill {key!r}: level must be {MIN_LEVEL}..{MAX_LEVEL}, got {level}"
                )
            skills[key] = level
        if not skills:
            raise AccountError("skills", "give at least one skill with a level 1..5")
    if known is not None:
        for name in skills:
            if name not in known and name not in kept:
                raise AccountError(
                    "skills",
                    f"skill {name!r} is not a configured topic or language "
                    f"(configured: {', '.join(known)})",
                )
    return skills


def check_password(raw: object) -> str:
    if not isinstance(raw, str):
        raise AccountError("password", "password must be text")
    problem = check_password_policy(raw)
    if problem:
        raise AccountError("password", problem)
    return raw


def generate_password() -> str:
    """A random password (16 characters, about 96 bits), shown once to whoever made it."""
    return secrets.token_urlsafe(12)


def revokes_sessions(changes: Mapping[str, object], roles_before: Iterable[str] = ()) -> bool:
    """Does this change of an agent end its sessions? A new password, a role taken away, or
    being disabled: every token is revoked and its open consoles must sign in again. (A role
    added needs no new session: each request reads the agent's roles afresh.)"""
    if "password_hash" in changes or changes.get("disabled") is True:
        return True
    roles = changes.get("roles")
    if isinstance(roles, tuple | list):
        return bool(set(roles_before) - set(roles)) or not roles_before
    return False


__all__ = [
    "MAX_CAPACITY",
    "MIN_CAPACITY",
    "AccountError",
    "check_capacity",
    "check_display_name",
    "check_password",
    "check_roles",
    "check_skills",
    "check_username",
    "generate_password",
    "revokes_sessions",
]
