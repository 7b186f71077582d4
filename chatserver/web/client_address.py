"""Who is asking: the client's address, for per-address limits (sign-in throttling, connection
caps, visitor tokens).

The peer of the TCP connection, unless that peer is one of ``CHATSERVER_TRUSTED_PROXIES``: then
the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy (each proxy
appends the address it received the request from, so what is left of the trusted ones is
whatever the client chose to send). Without the setting the header is ignored: a client cannot
choose its own address by sending one.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Scope


def client_address(scope: Scope, trusted_proxies: tuple[str, ...]) -> str:
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted_proxies or peer not in trusted_proxies:
        return peer
    forwarded = Headers(scope=scope).get("x-forwarded-for", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if hop not in trusted_proxies:
            return hop
    return peer


__all__ = ["client_address"]
