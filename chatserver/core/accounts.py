"""Agent accounts: their credentials, and the checks every way of creating or changing one
goes through.

**Credentials.** Passwords are argon2id hashes (argon2-cffi). Tokens are 256-bit random strings
handed to the client once; the store keeps only their SHA-256, so a leaked database opens no
session. Agent tokens expire after `token_ttl_s` and are revoked on sign-out and on a password
change. Visitor tokens are made and kept the same way.

**Checks.** `chatserver agents add/set` (the command line) and the admin pages' API
(`chatserver.web.admin_agents`) accept the same fields with the same rules, so both call these
functions. Each check returns the clean value or raises `AccountError`, whose ``field`` names
the input it is about (the admin page shows the message next to that field) and whose message
reads well on its own (the command line prints it as is).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chatserver.store.base import AgentRole

ROLES = ("agent", "supervisor", "analyst", "admin")

MIN_CAPACITY = 1
MAX_CAPACITY = 50
MAX_USERNAME = 64
MAX_DISPLAY_NAME = 100
MIN_LEVEL = 1
MAX_LEVEL = 5

_hasher = PasswordHasher()
# A hash of a random password, verified against when the username is unknown so that a wrong
# username costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A field of an agent account is refused; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- credentials --------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_policy(password: str) -> str | None:
    """Return why the password is refused, or None when it is acceptable."""
    if len(password) < 8:
        return "password must be at least 8 characters"
    if len(password) > 256:
        return "password must be at most 256 characters"
    return None


def parse_skills(raw: str) -> dict[str, int]:
    """`billing:5,en:3` -> {"billing": 5, "en": 3}; ValueError with a clear message otherwise."""
    skills: dict[str, int] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, level = part.partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise ValueError(f"skill {part!r}: expected NAME:LEVEL, e.g. billing:5")
        try:
            value = int(level)
        except ValueError:
            raise ValueError(f"skill {part!r}: level must be a whole number 1..5") from None
        if not 1 <= value <= 5:
            raise ValueError(f"skill {part!r}: level must be 1..5")
        skills[name] = value
    if not skills:
        raise ValueError("at least one skill is needed, e.g. billing:5,en:3")
    return skills


# --- checks -------------------------------------------------------------------------------


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
    "ROLES",
    "AccountError",
    "check_capacity",
    "check_display_name",
    "check_password",
    "check_password_policy",
    "check_roles",
    "check_skills",
    "check_username",
    "generate_password",
    "hash_password",
    "new_token",
    "parse_skills",
    "revokes_sessions",
    "token_hash",
    "verify_password",
]
