"""`Handshake.take`: the two headers the hello needs, and the scope's header list dropped."""

from __future__ import annotations

from typing import Any

from chatserver.web.cross_site import own_origin
from chatserver.web.sockets import Handshake


def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "websocket", "path": "/ws/visitor", "headers": list(headers)}


def test_reads_origin_and_host_then_drops_the_headers() -> None:
    s = scope(
        (b"host", b"chat.example:8443"),
        (b"user-agent", b"x" * 300),
        (b"origin", b"https://shop.example"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    )
    handshake = Handshake.take(s)
    assert (handshake.origin, handshake.host) == ("https://shop.example", "chat.example:8443")
    # uvicorn keeps the scope for the socket's life; the headers need not live as long
    assert list(s["headers"]) == []


def test_header_names_in_any_case_and_the_first_of_repeated_ones() -> None:
    s = scope(
        (b"Origin", b"https://first.example"),
        (b"ORIGIN", b"https://second.example"),
        (b"Host", b"hub.example"),
    )
    handshake = Handshake.take(s)
    assert (handshake.origin, handshake.host) == ("https://first.example", "hub.example")


def test_a_client_without_origin_or_host() -> None:
    for s in (scope(), {"type": "websocket"}):
        handshake = Handshake.take(s)
        assert (handshake.origin, handshake.host) == (None, None)
        assert list(s["headers"]) == []


def test_values_are_latin_1_as_asgi_sends_them() -> None:
    handshake = Handshake.take(scope((b"origin", "https://caf\xe9.example".encode("latin-1"))))
    assert handshake.origin == "https://caf\xe9.example"


def test_own_origin_from_the_host_and_the_public_url() -> None:
    assert own_origin("hub.example:8000", None) == {
        "http://hub.example:8000",
        "https://hub.example:8000",
    }
    assert own_origin(None, "https://chat.example/support") == {"https://chat.example"}
    assert own_origin(None, None) == set()
