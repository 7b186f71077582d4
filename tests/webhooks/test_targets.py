"""Which URLs an endpoint may have and which addresses a request may reach (SSRF), and the
signature and back-off arithmetic — sans I/O, except `resolve` asking this machine's resolver."""

from __future__ import annotations

import ipaddress
import random

import pytest

from chatserver.store.base import ConversationRecord, StoredEvent
from chatserver.webhooks import (
    TargetError,
    build_body,
    check_url,
    resolve,
    retry_delay,
    sign,
    verify,
)
from chatserver.webhooks.targets import allowed


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "255.255.255.255", "192.0.2.1",
    ],
)  # fmt: skip
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    assert not allowed(ipaddress.ip_address(address), ())
    with pytest.raises(TargetError, match="private, loopback or link-local"):
        check_url(f"http://{'[' + address + ']' if ':' in address else address}/hook")


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert allowed(ipaddress.ip_address(address), ())


def test_an_allowed_network_opens_exactly_that_network() -> None:
    assert allowed(ipaddress.ip_address("127.0.0.1"), ("127.0.0.0/8",))
    assert allowed(ipaddress.ip_address("::ffff:127.0.0.5"), ("127.0.0.0/8",))
    assert not allowed(ipaddress.ip_address("10.0.0.1"), ("127.0.0.0/8",))
    assert check_url("http://127.0.0.1:9/x", ("127.0.0.0/8",)) == "http://127.0.0.1:9/x"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "give the address"), ("", "give the address"), (5, "give the address"),
        ("ftp://example.com/x", "must start with https://"), ("example.com/hook", "must start"),
        ("https://user:pw@example.com/x", "user name or password"), ("https:///x", "no host"),
        ("https://example.com/x#frag", "fragment"), ("https://example.com:99999/", "url: Port"),
        ("https://example.com/" + "a" * 2000, "at most 2000"),
    ],
)  # fmt: skip
def test_bad_urls_are_refused_with_the_reason(url: object, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        check_url(url)


async def test_a_name_that_resolves_to_loopback_is_refused_before_any_request() -> None:
    with pytest.raises(TargetError, match=r"resolves to (127\.0\.0\.1|::1)"):
        await resolve("http://localhost:8080/hook")
    host, port, address = await resolve("http://localhost:8080/hook", ("127.0.0.0/8", "::1/128"))
    assert (host, port) == ("localhost", 8080) and address.is_loopback
    with pytest.raises(TargetError, match="cannot be resolved"):
        await resolve("https://no-such-host.invalid/hook")


def test_the_signature_checks_secret_body_and_time() -> None:
    body = b'{"id":"evt_1"}'
    header = sign("whsec_x", body, t=1_000_000)
    assert header.startswith("t=1000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_x", body, header, now=1_000_100)
    assert not verify("whsec_x", body, header, now=1_000_400)  # older than 5 min: a replay
    assert not verify("whsec_y", body, header, now=1_000_000)
    assert not verify("whsec_x", body + b" ", header, now=1_000_000)
    assert not verify("whsec_x", body, "v1=abc", now=1_000_000)
    assert not verify("whsec_x", body, "t=abc,v1=abc", now=1_000_000)


def test_back_off_doubles_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(7)
    for attempts in range(1, 40):
        ceiling = min(3600.0, 10.0 * 2 ** (attempts - 1))
        for _ in range(20):
            assert ceiling / 2 <= retry_delay(attempts, 10.0, rng.random) <= ceiling
    assert retry_delay(1, 10.0, lambda: 0.0) == 5.0
    assert retry_delay(30, 10.0, lambda: 1.0) == 3600.0


def test_the_body_is_the_same_bytes_for_the_same_event() -> None:
    conv = ConversationRecord(
        "c1", "v1", "default", "billing", "en", "active", "2026-01-01T00:00:00.000Z"
    )
    event = StoredEvent(
        "c1",
        3,
        "2026-01-01T00:00:01.000Z",
        "message",
        "visitor",
        "v1",
        "Vera",
        "m1",
        {"text": "hi"},
    )
    one, two = (
        build_body("message.created", event, conv),
        build_body("message.created", event, conv),
    )
    assert one == two
    other = build_body("offline_message.created", event, conv)
    assert one != other
    with pytest.raises(ValueError, match="unknown webhook type"):
        build_body("message.deleted", event, conv)
