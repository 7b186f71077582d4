"""`chatserver.core.identity.verify`: what proves a user, what does not, per site mode."""

from __future__ import annotations

import hashlib
import hmac
import warnings

import jwt
import orjson
import pytest

from chatserver.core.identity import Claim, Identity, IdentityRefused, user_hash, verify
from chatserver.settings import SettingsError, SiteIdentity, from_environment

SECRET = "s3cret-of-the-shop-0123456789abcdef"
OTHER = "s3cret-of-the-blog-0123456789abcdef"
NOW = 1_800_000_000.0
OPTIONAL = SiteIdentity(mode="optional", secret=SECRET)
ENFORCE = SiteIdentity(mode="enforce", secret=SECRET)


def identity_env(site: str, mode: str, secret: object = SECRET) -> str:
    return orjson.dumps({site: {"mode": mode, "secret": secret}}).decode()


def token(secret: str = SECRET, alg: str = "HS256", **claims: object) -> str:
    body: dict[str, object] = {"sub": "user-42", "exp": NOW + 300, "name": "Ada", "email": "a@x.io"}
    body.update(claims)
    with warnings.catch_warnings():
        # HS512 with this 35-byte secret is short (RFC 7518): it is refused anyway, by its alg.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=alg)


def test_user_hash_is_hex_hmac_sha256() -> None:
    expected = hmac.new(SECRET.encode(), b"user-42", hashlib.sha256).hexdigest()
    assert user_hash(SECRET, "user-42") == expected


def test_a_good_hash_verifies() -> None:
    claim = Claim("user-42", user_hash(SECRET, "user-42"), name="Ada", email="a@x.io")
    assert verify(claim, OPTIONAL, NOW) == Identity("user-42", True, "Ada", "a@x.io")
    assert verify(claim, ENFORCE, NOW).verified
    upper = Claim("user-42", user_hash(SECRET, "user-42").upper())
    assert verify(upper, ENFORCE, NOW).verified  # hex is hex, whatever its case


@pytest.mark.parametrize(
    "claim",
    [
        Claim("user-42", user_hash(SECRET, "user-43")),  # another user's hash
        Claim("user-42", user_hash(OTHER, "user-42")),  # another site's secret
        Claim("user-42", "0" * 64),
        Claim("user-42", ""),
        Claim("user-42", None),  # no hash at all
        Claim(None, user_hash(SECRET, "user-42")),  # no user id
    ],
)
def test_a_bad_or_missing_hash_never_verifies(claim: Claim) -> None:
    found = verify(claim, OPTIONAL, NOW)
    assert not found.verified
    assert found.user_id == claim.user_id  # only claimed
    assert found.reason
    with pytest.raises(IdentityRefused, match="identity not verified"):
        verify(claim, ENFORCE, NOW)


def test_off_verifies_nothing() -> None:
    good = Claim("user-42", user_hash(SECRET, "user-42"), name="Ada")
    found = verify(good, SiteIdentity(mode="off", secret=SECRET), NOW)
    assert (found.verified, found.name) == (False, "Ada")
    assert not verify(Claim(token=token()), SiteIdentity(), NOW).verified


def test_a_good_token_verifies_with_its_claims() -> None:
    found = verify(Claim(token=token(), name="ignored"), ENFORCE, NOW)
    assert found == Identity("user-42", True, "Ada", "a@x.io")
    bare = verify(Claim(token=token(name=None, email=None)), ENFORCE, NOW)
    assert (bare.user_id, bare.name, bare.email) == ("user-42", None, None)


def test_token_leeway_is_small() -> None:
    assert verify(Claim(token=token(exp=NOW - 10)), ENFORCE, NOW).verified
    with pytest.raises(IdentityRefused, match="expired"):
        verify(Claim(token=token(exp=NOW - 31)), ENFORCE, NOW)
    with pytest.raises(IdentityRefused, match="not valid yet"):
        verify(Claim(token=token(nbf=NOW + 60)), ENFORCE, NOW)


def forged_none() -> str:
    import base64
    import json

    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return (
        part({"alg": "none", "typ": "JWT"}) + "." + part({"sub": "user-42", "exp": NOW + 300}) + "."
    )


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (token(exp=NOW - 3600), "expired"),
        (token(secret=OTHER), "Signature verification failed"),  # another site's token
        (token(alg="HS512"), "alg"),
        (forged_none(), "alg"),
        (token(exp=None), 'missing the "exp"'),
        (token(sub=None), 'missing the "sub"'),
        (token(sub=""), "sub must be"),
        (token(sub=42), "ub"),
        (token(exp="tomorrow"), "exp"),
        (token(name=["A"]), "name must be"),
        ("not.a.token", "token refused"),
        ("", "token refused"),
    ],
)
def test_bad_tokens_are_refused(bad: str, why: str) -> None:
    found = verify(Claim(token=bad, name="Mallory"), OPTIONAL, NOW)
    assert (found.verified, found.user_id, found.name) == (False, None, "Mallory")
    assert found.reason is not None and why.lower() in found.reason.lower(), found.reason
    with pytest.raises(IdentityRefused, match="token refused"):
        verify(Claim(token=bad), ENFORCE, NOW)


def test_settings_read_sites_modes_and_secrets() -> None:
    env = {
        "CHATSERVER_SITES": '{"default": ["self"], "shop": ["https://shop.example"]}',
        "CHATSERVER_IDENTITY": identity_env("shop", "enforce"),
    }
    settings = from_environment(env)
    assert settings.identity_for("shop") == ENFORCE
    assert settings.identity_for("default") == SiteIdentity()
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"shop": {"mode": "enforce", "secret": "short"}}', "at least 32"),
        ('{"shop": {"mode": "optional"}}', "at least 32"),
        (identity_env("shop", "always"), "off, optional, enforce"),
        ('{"shop": {"mode": "off", "secret": 5}}', "must be a string"),
        ('{"shop": {"mode": "off", "key": "x"}}', "expected {mode, secret}"),
        ('["shop"]', "JSON object"),
        (identity_env("nowhere", "enforce"), "nowhere"),
    ],
)
def test_settings_refuse_bad_identity(value: str, message: str) -> None:
    env = {
        "CHATSERVER_SITES": '{"default": ["self"], "shop": ["https://shop.example"]}',
        "CHATSERVER_IDENTITY": value,
    }
    with pytest.raises(SettingsError, match=message) as caught:
        from_environment(env)
    assert SECRET not in str(caught.value)
