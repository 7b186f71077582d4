"""API keys at the HTTP edge: making one (``csk_<id>_<secret>``, shown once), and the gate each
key-authenticated operation passes — a live key, a scope the operation allows, and the key's
rate (``CHATSERVER_API_KEY_RATE_PER_MINUTE`` calls a minute, counted in Redis so the limit
holds across every hub process).

The rate is a fixed window per key that starts at the key's first call: ``SET NX EX 60`` then
``INCR``, in one MULTI/EXEC (a window cannot lose its expiry between the two). Over the limit
the call is answered 429 with ``Retry-After`` (the window's remaining seconds) and changes
nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse

from chatserver.store import iso_now
from chatserver.store.api_keys import ApiKeyRecord, ApiKeyScope
from chatserver.web.kit import (
    API_KEY_PREFIX,
    NO_STORE,
    Refused,
    api_key_hash,
    api_key_of,
    api_key_token,
    ctx_of,
    error,
)

__all__ = ["RATE_WINDOW_S", "mint", "require_key"]

RATE_WINDOW_S = 60


def mint(
    name: str, scopes: Collection[ApiKeyScope], created_by: str | None
) -> tuple[str, ApiKeyRecord]:
    """A new key: the secret to show once, and the record to store (its hash only). 128 bits
    of id (public, shown in lists) and 256 bits of secret, both from `secrets`."""
    key_id = secrets.token_hex(8)
    token = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKeyRecord(
        id=key_id,
        name=name,
        scopes=tuple(scopes),
        secret_hash=api_key_hash(token),
        created_at=iso_now(),
        created_by=created_by,
    )
    return token, record


async def require_key(request: Request, scopes: frozenset[str]) -> ApiKeyRecord:
    """The request's live key if one of its scopes is among ``scopes`` and it is within its
    rate; otherwise `Refused` with 401, 403 or 429."""
    if api_key_token(request) is None:
        raise Refused(
            error(401, "unauthorized", "this needs an API key (Authorization: Bearer csk_…)")
        )
    key = await api_key_of(request)
    if key is None:
        raise Refused(error(401, "unauthorized", "unknown or revoked API key"))
    if not set(key.scopes) & scopes:
        needed = " or ".join(sorted(scopes))
        raise Refused(
            error(
                403,
                "forbidden",
                f"this API key lacks the scope {needed} (it has: {', '.join(key.scopes)})",
            )
        )
    await _within_rate(request, key)
    return key


async def _within_rate(request: Request, key: ApiKeyRecord) -> None:
    ctx = ctx_of(request)
    limit = ctx.settings.api_key_rate_per_minute
    counter = f"{ctx.settings.redis_prefix}:apikey-rate:{key.id}"
    try:
        async with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.set(counter, 0, ex=RATE_WINDOW_S, nx=True)
            pipe.incr(counter)
            pipe.ttl(counter)
            _, count, ttl = await pipe.execute()
    except (RedisError, OSError):
        message = "the rate of API keys cannot be checked just now"
        raise Refused(error(503, "unavailable", message)) from None
    if int(count) > limit:
        wait = max(1, int(ttl))
        raise Refused(
            JSONResponse(
                {
                    "error": "rate_limited",
                    "message": f"this API key made more than {limit} calls in a minute;"
                    f" try again in {wait} s",
                },
                status_code=429,
                headers={**NO_STORE, "Retry-After": str(wait)},
            )
        )
