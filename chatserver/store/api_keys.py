"""`ApiKeys`: the keys integrations call the REST API v1 with (docs/api.md).

A key is shown once, when it is made (``csk_<id>_<secret>``); the store keeps only the SHA-256
of the whole key. SHA-256 and not a password hash (argon2): the secret is 32 random bytes
(256 bits) from `secrets`, so there is nothing to guess and nothing a slow hash would protect —
a slow hash only protects low-entropy secrets such as passwords — while every API request
looks the key up, so the look-up must cost a single indexed read.

Guarantees (tests/chatserver/store/test_contract_api_keys.py checks each one):

Unique
    ``id`` and ``secret_hash`` are each unique: adding a taken one raises `ConflictError` and
    stores nothing.
Ordered
    `list_api_keys` returns every key, revoked ones too, newest first (by ``created_at``, then
    ``id``).
Revocation is final and at once
    `revoke_api_key` sets ``revoked_at`` in one committed transaction; every later
    `get_api_key_by_hash` — from any process sharing the database — returns the record with
    ``revoked_at`` set (nothing is cached here). Revoking again keeps the first ``revoked_at``
    and returns the record; an unknown id raises `NotFoundError`.
Last use only moves forward
    `touch_api_key` sets ``last_used_at`` only if it is later than the stored one (two
    processes touching at once keep the later time); an unknown id is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["API_KEY_SCOPES", "ApiKeyRecord", "ApiKeyScope", "ApiKeys"]

ApiKeyScope = Literal["read", "write", "bot"]
#: Every scope a key may carry, in the order pages and documents list them.
API_KEY_SCOPES: tuple[ApiKeyScope, ...] = ("read", "write", "bot")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One API key: its ``id`` (the public part of the key), the admin's ``name`` for it (the
    integration's name, shown as the sender of its messages), ``scopes``, the SHA-256 (hex) of
    the whole key, who made it and when, its last use, and when it was revoked (None: live)."""

    id: str
    name: str
    scopes: tuple[ApiKeyScope, ...]
    secret_hash: str
    created_at: str
    created_by: str | None = None
    last_used_at: str | None = None
    revoked_at: str | None = None


class ApiKeys(Protocol):
    """API keys: made, looked up by their hash, listed, touched and revoked."""

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        """`ConflictError` if its id or hash is taken."""

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def get_api_key_by_hash(self, secret_hash: str) -> ApiKeyRecord | None:
        """The key whose whole-key SHA-256 is ``secret_hash``, revoked or not."""

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key, newest first."""

    async def revoke_api_key(self, key_id: str, ts: str) -> ApiKeyRecord:
        """Revoke (at ``ts`` unless it was revoked before); the record as it is now."""

    async def touch_api_key(self, key_id: str, ts: str) -> None:
        """Record a use at ``ts`` (kept only if later than the one stored)."""
