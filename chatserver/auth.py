"""Passwords, agent tokens and visitor tokens.

Passwords are argon2id hashes (argon2-cffi). Tokens are 256-bit random strings handed to the
client once; the store keeps only their SHA-256, so a leaked database opens no session. Agent
tokens expire after `token_ttl_s` and are revoked on sign-out and on a password change.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("agent", "supervisor", "analyst", "admin")

_hasher = PasswordHasher()
# A hash of a random password, verified against when the username is unknown so that a wrong
# username costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


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
