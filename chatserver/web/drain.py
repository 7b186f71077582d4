"""uvicorn's server with a drain before it stops, for rolling restarts behind a load balancer.

SIGTERM starts the drain at once (`chatserver.context.HubContext.begin_drain`): ``/readyz``
answers 503, new WebSocket handshakes are refused with 503, and this process's agents get no
new offers — while every open socket keeps working. After ``CHATSERVER_DRAIN_S`` its agents go
offline and every socket is closed with 1012 (`HubContext.close_sockets`), given up to
``CHATSERVER_SHUTDOWN_GRACE_S`` to end; then uvicorn's own shutdown runs (stop listening, close
what is left, wait for in-flight requests, the lifespan's end: `HubContext.close`).

Signals: SIGTERM drains. Ctrl-C (SIGINT), or ``CHATSERVER_DRAIN_S=0``, skips the wait — the
sockets close at once, the rest as above. A second signal during the drain cuts it short the
same way; one after that is uvicorn's "force quit" (no more waiting, no lifespan end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from starlette.datastructures import State

from chatserver.context import HubContext

log = logging.getLogger("chatserver")

__all__ = ["DrainingServer"]

T = TypeVar("T")


class DrainingServer(uvicorn.Server):
    """`uvicorn.Server` whose first SIGTERM drains the hub before the shutdown (see above)."""

    def __init__(
        self, config: uvicorn.Config, state: State, *, drain_s: float, grace_s: float
    ) -> None:
        """``state``: the app's, where its lifespan puts the `HubContext` (``state.ctx``)."""
        super().__init__(config)
        self.state = state
        self.drain_s = drain_s
        self.grace_s = grace_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cut = asyncio.Event()
        self._drain: asyncio.Task[None] | None = None
        #: How long this drain waits before the sockets close: None until a signal came.
        self._wait_s: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._loop = asyncio.get_running_loop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it only sets flags and hands the rest to the event loop.
        self._captured_signals.append(sig)  # re-raised after the shutdown, as uvicorn does
        loop = self._loop
        if self.should_exit:  # a signal during uvicorn's shutdown: stop waiting
            self.force_exit = True
        elif loop is None:  # not serving yet: start, then shut down at once
            self.should_exit = True
        elif self._wait_s is not None:  # a second signal: cut the drain short
            loop.call_soon_threadsafe(self._cut.set)
        else:
            self._wait_s = self.drain_s if sig == signal.SIGTERM else 0.0
            loop.call_soon_threadsafe(self._begin)

    def _begin(self) -> None:
        if self._drain is None and not self.should_exit:
            ctx: HubContext = self.state.ctx
            ctx.start_draining()  # before any request this loop turn has yet to answer
            self._drain = asyncio.create_task(self.drain(), name="drain")

    async def drain(self) -> None:
        """Drain, close the sockets, then let uvicorn's shutdown run."""
        try:
            ctx: HubContext = self.state.ctx
            await ctx.begin_drain()
            log.info("drain started", extra={"drain_s": self._wait_s})
            await self._unless_cut(asyncio.sleep(self._wait_s or 0.0))
            await ctx.close_sockets()
            if not await self._unless_cut(ctx.sockets_closed(self.grace_s)):
                log.warning("drain: sockets still open", extra={"open": len(ctx.hub.clients)})
        except Exception:
            log.exception("drain failed; shutting down")
        finally:
            self.should_exit = True

    async def _unless_cut(self, work: Coroutine[Any, Any, T]) -> T | None:
        """``work``'s result, or None as soon as a second signal asks to stop now."""
        task = asyncio.ensure_future(work)
        cut = asyncio.ensure_future(self._cut.wait())
        await asyncio.wait([task, cut], return_when=asyncio.FIRST_COMPLETED)
        cut.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
