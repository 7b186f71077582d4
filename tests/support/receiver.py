"""A real HTTP server that receives webhooks, for tests: it records every request (headers,
body, when) and answers as the test scripts it (a status, or a delay past the hub's timeout).

Runs in a thread of the test process on 127.0.0.1 (ThreadingHTTPServer), so a test can stop it
and start it again on the same port while the hub keeps trying.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from tests.support.redis_server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int | None = None

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def type(self) -> str:
        return str(self.json["type"])


#: Given the request and how many requests came before it, (status, seconds to wait first).
Script = Callable[[Received, int], tuple[int, float]]


def always(status: int = 200) -> Script:
    return lambda request, n: (status, 0.0)


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    script: Script = field(default_factory=always)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Notified each time a request is answered: waiters wake on it, not on a clock.
    _answered: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length), time.time(),
                )  # fmt: skip
                with receiver._lock:
                    n = len(receiver.received)
                    receiver.received.append(request)
                status, delay = receiver.script(request, n)
                if delay:
                    time.sleep(delay)
                with receiver._answered:
                    request.answered = status
                    receiver._answered.notify_all()
                payload = b'{"ok": true}' if status < 300 else b"receiver says no"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the hub gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            # Two hubs send 16 requests at once each: socketserver's backlog of 5 would refuse
            # some connections, and the retries would be the receiver's doing, not the hub's.
            request_queue_size = 128

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[Received]:
        """The requests it answered with a 2xx, in the order they came."""
        with self._lock:
            return [r for r in self.received if r.answered is not None and r.answered < 300]

    def wait_until(
        self, done: Callable[[list[Received]], bool], timeout: float
    ) -> list[Received] | None:
        """Block until ``done(delivered())``, woken by each answer; None if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._answered:
            while not done(got := self.delivered()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._answered.wait(left)
        return got

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until at least ``count`` requests were answered 2xx (deadline-bounded)."""
        got = self.wait_until(lambda got: len(got) >= count, timeout)
        if got is None:
            raise AssertionError(
                f"{len(self.delivered())} webhooks delivered, expected {count}:"
                f" {[r.type for r in self.delivered()]}"
            )
        return got

    async def arrived(self, count: int, timeout: float = 20.0) -> list[Received]:
        """`wait_for` on the event loop."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    async def until(
        self, done: Callable[[list[Received]], bool], timeout: float
    ) -> list[Received] | None:
        """`wait_until` on the event loop."""
        return await asyncio.to_thread(self.wait_until, done, timeout)
