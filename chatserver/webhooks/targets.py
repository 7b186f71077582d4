"""Where a webhook may go: the URL an admin gives, and the address each request connects to.

A hub usually sits inside a private network, next to Redis, PostgreSQL and cloud metadata
services; an endpoint URL is a request the hub makes for whoever can edit it (server-side request
forgery). So:

- `check_url`, when an endpoint is saved: ``http`` or ``https``, a host, no user or password, no
  fragment, at most 2,000 characters; a literal address must be allowed (below).
- `resolve`, before every request: the host's addresses (DNS may have changed since it was
  saved); every one must be a public address, or inside a network of
  ``CHATSERVER_WEBHOOK_ALLOW_NETWORKS``. The request then connects to the address checked — not
  to a second look-up that could answer differently (DNS rebinding) — with the URL's host in
  ``Host`` and in TLS's server name.

Refused: loopback, private (RFC 1918, unique-local), link-local (cloud metadata at
169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses, and IPv4
mapped into IPv6 the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["MAX_URL", "TargetError", "allowed", "check_url", "resolve"]

MAX_URL = 2000
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetError(ValueError):
    """The URL or the address it leads to may not be used; the message says why."""


def allowed(address: Address, networks: Sequence[str]) -> bool:
    """A public address, or one inside a network the operator allows."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for net in networks:
        network = ipaddress.ip_network(net, strict=False)
        if address.version == network.version and address in network:
            return True
    return address.is_global and address not in _CGNAT and not address.is_multicast


def check_url(url: object, networks: Sequence[str] = ()) -> str:
    """The URL, checked (`TargetError` says what is wrong)."""
    if not isinstance(url, str) or not url.strip():
        raise TargetError("url: give the address to send to, e.g. https://example.com/hooks")
    url = url.strip()
    if len(url) > MAX_URL:
        raise TargetError(f"url: at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"url: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetError("url: must start with https:// (or http://)")
    if not parts.hostname:
        raise TargetError("url: has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetError("url: must not hold a user name or password; sign with the secret")
    if parts.fragment:
        raise TargetError("url: must not have a #fragment")
    if port == 0:
        raise TargetError("url: port 0 is not a port")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    if not allowed(literal, networks):
        raise TargetError(
            f"url: {literal} is a private, loopback or link-local address; webhooks go to public"
            " addresses unless the operator allows the network (CHATSERVER_WEBHOOK_ALLOW_NETWORKS)"
        )
    return url


async def resolve(url: str, networks: Sequence[str] = ()) -> tuple[str, int, Address]:
    """The URL's host, port and the address to connect to — the first the resolver gives —
    once every address the host has is allowed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise TargetError(f"{host}: cannot be resolved ({exc.strerror or exc})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise TargetError(f"{host}: has no address")
    for address in addresses:
        if not allowed(address, networks):
            raise TargetError(
                f"{host} resolves to {address}, a private, loopback or link-local address"
                " (allow its network with CHATSERVER_WEBHOOK_ALLOW_NETWORKS)"
            )
    return host, port, addresses[0]
