"""Slow and greedy clients: a deadline for request headers, caps on open connections per client
address and in total, and accept errors logged once a second instead of once per attempt.

Before, a socket that sent nothing (or a header byte every 10 s) stayed open for good, and
nothing bounded how many one address held: under ``ulimit -n 1024``, 1,050 such sockets took
every descriptor, ``/healthz`` timed out for the whole minute, and the event loop logged
"socket.accept() out of system resource" 1.2 million times (616 MB) while it lasted.

- **Header deadline.** A connection must deliver a whole request head within
  ``CHATSERVER_HEADER_TIMEOUT_S`` (10 s) of opening — and of each previous response, on a
  kept-alive one — or it is closed. Idle kept-alive connections close after uvicorn's 5 s.
- **Caps.** At most ``CHATSERVER_MAX_CONNECTIONS`` open at once (HTTP and WebSocket alike;
  default: the open-file limit less 128 for the store, Redis and logs) and at most
  ``CHATSERVER_MAX_CONNECTIONS_PER_ADDRESS`` from one client address (default: a quarter of
  that, at most 1,000 — offices share an address). One more is answered
  ``503 Service Unavailable`` with ``Retry-After`` and a sentence saying why, then closed: a
  clear refusal, not a hang. Connections from ``CHATSERVER_TRUSTED_PROXIES`` count only
  against the total (the proxy's clients are many people).
- **Accept errors** (out of descriptors even so) are logged at most once a second, with how
  many there were.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("chatserver.connections")

HEADER_TIMEOUT_S = 10.0
RESERVED_FDS = 128


def default_total() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 100_000
    return max(64, int(soft) - RESERVED_FDS)


def default_per_address(total: int) -> int:
    return min(1000, max(16, total // 4))


class ConnectionLimits:
    """How many connections this process has open, in all and per client address (counts
    only: nothing is kept per connection, which would cost every idle socket memory)."""

    def __init__(self) -> None:
        self.total = default_total()
        self.per_address = default_per_address(self.total)
        self.header_timeout_s = HEADER_TIMEOUT_S
        self.trusted_proxies: frozenset[str] = frozenset()
        self.open = 0
        self._by_address: Counter[str] = Counter()
        self.refused = 0

    def configure(
        self,
        *,
        total: int | None,
        per_address: int | None,
        header_timeout_s: float,
        trusted_proxies: tuple[str, ...],
    ) -> None:
        self.total = total or default_total()
        self.per_address = per_address or default_per_address(self.total)
        self.header_timeout_s = header_timeout_s
        self.trusted_proxies = frozenset(trusted_proxies)

    def admit(self, address: str) -> str | None:
        """Count a new connection; or say why it is refused (and count nothing)."""
        if self.open >= self.total:
            self.refused += 1
            return "the hub has all the connections it can hold; try again shortly"
        if address not in self.trusted_proxies and self._by_address[address] >= self.per_address:
            self.refused += 1
            return "too many connections from your address; close some and try again"
        self.open += 1
        self._by_address[address] += 1
        return None

    def release(self, address: str) -> None:
        """A connection `admit` counted has ended."""
        if self._by_address.get(address, 0) <= 0:
            return  # not one of ours (a protocol used without HubHttpProtocol)
        self.open -= 1
        self._by_address[address] -= 1
        if not self._by_address[address]:
            del self._by_address[address]


#: This process's limits (uvicorn makes the protocol objects; they find it here).
LIMITS = ConnectionLimits()


def refuse(transport: asyncio.Transport, reason: str) -> None:
    body = (reason + "\n").encode()
    transport.write(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Retry-After: 5\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    transport.close()


class HubHttpProtocol(H11Protocol):
    """uvicorn's h11 protocol with the connection caps and the header deadline."""

    _header_timer: asyncio.TimerHandle | None = None
    # Whether this protocol holds one of LIMITS' counts (until the connection ends, or until
    # a WebSocket upgrade hands it to HubWebSocketProtocol, which gives it back then).
    _admitted = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        reason = LIMITS.admit(client_host(self.client))
        if reason is not None:
            refuse(transport, reason)
            return
        self._admitted = True
        self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_timer = self.loop.call_later(
            LIMITS.header_timeout_s, self._header_deadline_passed
        )

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no request head in time (slow or silent client)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        super().data_received(data)
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._disarm_header_deadline()  # the head is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()  # the next request's head has the same deadline

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm_header_deadline()
        self._admitted = False  # the WebSocket protocol releases the count
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        if self._admitted:
            self._admitted = False
            LIMITS.release(client_host(self.client))
        super().connection_lost(exc)


def client_host(client: tuple[str, int] | None) -> str:
    """The address part of uvicorn's ``(host, port)`` of a connection's peer."""
    return client[0] if client else "unknown"


class AcceptErrorLog:
    """A loop exception handler that logs "socket.accept() out of system resource" at most once
    a second, with how many came since; everything else goes to the default handler."""

    def __init__(self, every_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self.pending = 0
        self.total = 0
        self._last = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not str(context.get("message", "")).startswith("socket.accept() out of system"):
            loop.default_exception_handler(context)
            return
        self.pending += 1
        self.total += 1
        now = self._clock()
        if now - self._last >= self.every_s:
            log.error(
                "cannot accept connections: out of file descriptors",
                extra={"errors": self.pending, "error": repr(context.get("exception"))},
            )
            self.pending = 0
            self._last = now


__all__ = [
    "LIMITS",
    "AcceptErrorLog",
    "ConnectionLimits",
    "HubHttpProtocol",
    "client_host",
    "default_per_address",
    "default_total",
]
