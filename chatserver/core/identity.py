"""Verified users: is a visitor's identity claim proven by the site's secret?

The host app's server, which knows who is signed in, proves it to the hub in one of two ways
(docs/widget.md, "Verified users"):

- ``user_hash = hex(HMAC-SHA256(secret, user_id))`` next to the ``user_id``;
- an HS256 JSON Web Token signed with the secret: ``sub`` (the user id, required), ``exp``
  (required; a few seconds of clock skew allowed), ``name`` and ``email`` (optional).

`verify` is pure (no I/O, time is an argument): it takes the claim as the ``identify`` frame
carried it and the site's `SiteIdentity`, and returns an `Identity`. What each mode does with
a claim that is not proven:

=========  ==========================================================================
``off``    nothing is verified (there is no secret): the claim names the visitor only
``optional``  the claim names the visitor only, marked unverified; never merges histories
``enforce``   refused: `IdentityRefused` (the hub answers ``error`` ``forbidden``)
=========  ==========================================================================
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import jwt

from chatserver.settings import SiteIdentity

__all__ = ["ALGORITHM", "LEEWAY_S", "Claim", "Identity", "IdentityRefused", "user_hash", "verify"]

#: The only algorithm a token may use: a token that names another (``none``, RS256 with the
#: secret as a "public key", HS512…) is refused.
ALGORITHM = "HS256"
#: Clock skew allowed on ``exp`` (and ``nbf``/``iat`` when present), in seconds.
LEEWAY_S = 30
#: The longest user id, name and e-mail kept (characters).
MAX_USER_ID = 256
MAX_NAME = 200
MAX_EMAIL = 320


class IdentityRefused(Exception):
    """An ``enforce`` site refused a claim; the message says why, for the page's developer."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What the page passed to ``ChatHub.identify``: a user id with its hash, or a token."""

    user_id: str | None = None
    user_hash: str | None = None
    token: str | None = None
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """The outcome: ``user_id`` is the app's id (proven when ``verified``, else only claimed,
    possibly None); ``reason`` says why a claim is not verified (None when it is)."""

    user_id: str | None
    verified: bool
    name: str | None
    email: str | None
    reason: str | None = None


def user_hash(secret: str, user_id: str) -> str:
    """What the host app's server computes: hex HMAC-SHA256 of the user id under the secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify(claim: Claim, site: SiteIdentity, now: float) -> Identity:
    """The identity ``claim`` proves on a site configured as ``site``, at time ``now``.

    Raises `IdentityRefused` when the site enforces verification and the claim is not proven.
    """
    if site.mode == "off" or not site.secret:
        return _unverified(claim, "identity verification is off for this site", site)
    if claim.token is not None:
        found = _from_token(claim.token, site.secret, now)
        if isinstance(found, Identity):
            return found
        # A bad token proves nothing, not even the name and e-mail inside it.
        return _unverified(Claim(name=claim.name, email=claim.email), found, site)
    if claim.user_id is not None and claim.user_hash is not None:
        expected = user_hash(site.secret, claim.user_id)
        if hmac.compare_digest(expected.encode(), claim.user_hash.strip().lower().encode()):
            return Identity(claim.user_id, True, claim.name, claim.email)
        return _unverified(claim, "user_hash does not match user_id for this site", site)
    return _unverified(claim, "neither a token nor a user_hash was given", site)


def _unverified(claim: Claim, reason: str, site: SiteIdentity) -> Identity:
    if site.mode == "enforce":
        raise IdentityRefused(f"identity not verified: {reason}")
    return Identity(claim.user_id, False, claim.name, claim.email, reason)


def _from_token(token: str, secret: str, now: float) -> Identity | str:
    """A token's identity: HS256 only, ``sub`` and ``exp`` required, ``exp`` in the future
    and ``nbf`` (if any) in the past, both within `LEEWAY_S` of ``now``; else why not."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=LEEWAY_S,
            # Time is checked below against ``now``, not the clock.
            options={
                "require": ["exp", "sub"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        exp, nbf = claims["exp"], claims.get("nbf", 0)
        for value, claim in ((exp, "exp"), (nbf, "nbf")):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise jwt.InvalidTokenError(f"{claim} must be a number (seconds since 1970)")
        if exp + LEEWAY_S <= now:
            raise jwt.ExpiredSignatureError("the token has expired")
        if nbf - LEEWAY_S > now:
            raise jwt.ImmatureSignatureError("the token is not valid yet (nbf)")
        sub, name, email = claims["sub"], claims.get("name"), claims.get("email")
        if not isinstance(sub, str) or not sub or len(sub) > MAX_USER_ID:
            raise jwt.InvalidTokenError(f"sub must be a string of 1..{MAX_USER_ID} characters")
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
            raise jwt.InvalidTokenError(f"name must be a string of at most {MAX_NAME} characters")
        if email is not None and (not isinstance(email, str) or len(email) > MAX_EMAIL):
            raise jwt.InvalidTokenError(f"email must be a string of at most {MAX_EMAIL} characters")
    except jwt.PyJWTError as exc:
        return f"token refused: {exc}"
    return Identity(sub, True, name or None, email or None)
