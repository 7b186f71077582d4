"""`Probe`: one health check of a dependency (Redis, the store) for ``/readyz``.

A load balancer asks ``/readyz`` every second or so. A check that cannot be answered at once
— the database host cut off, a packet lost — must not make the answer slow, nor pile up
checks: so a caller waits at most ``timeout`` for the result, and a check still running then
is left to finish rather than cancelled (cancelling a PostgreSQL query mid-flight sends a
cancel request and, on a dead network, waits seconds for it), and the next caller waits on
that same check instead of starting another. At most one check per dependency is in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Probe"]


class Probe:
    def __init__(self, check: Callable[[], Awaitable[object]], timeout: float = 1.0) -> None:
        self.check = check
        self.timeout = timeout
        self._running: asyncio.Future[object] | None = None

    async def __call__(self) -> str:
        """``"ok"``, or ``"error: …"`` saying what failed (or that no answer came in time)."""
        running = self._running
        if running is None or running.done():
            running = self._running = asyncio.ensure_future(self.check())
            running.add_done_callback(_consume)
        try:
            await asyncio.wait_for(asyncio.shield(running), self.timeout)
        except TimeoutError:
            return f"error: no answer in {self.timeout:g} s"
        except Exception as exc:
            return f"error: {exc!r}"
        return "ok"


def _consume(future: asyncio.Future[object]) -> None:
    """A check nobody waited for to the end: its failure is read here, not reported later as
    'never retrieved'."""
    if not future.cancelled():
        future.exception()
