"""Per-connection delivery: a bounded send queue with its own writer task, and per-conversation
subscriptions that hand each stored event to the client exactly once, in `seq` order.

A subscription remembers the last `seq` it delivered. An event that arrives in order is sent at
once; one that arrives ahead of a gap waits in `pending` while the gap is filled from the
transcript store (every event is committed before it is published, so the store always has the
missing ones). Events at or below `last` are duplicates and are dropped. Fan-out only ever calls
`Client.send`, which never awaits: a client whose queue is full is disconnected and will resume
by `seq`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("chatserver.delivery")

SLOW_CLIENT_CLOSE = 1013  # "try again later": the client reconnects and resumes by seq


class ClientState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class Subscription:
    conversation_id: str
    last: int
    pending: dict[int, Any] = field(default_factory=dict)
    skip: set[int] = field(default_factory=set)
    filling: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Client:
    """One WebSocket connection's outgoing side and identity."""

    def __init__(
        self,
        role: str,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        *,
        queue_frames: int,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self.role = role
        self._send_text = send_text
        self._close = close
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_frames)
        self._on_overflow = on_overflow
        self._pending_close: tuple[int, str] = (1000, "")
        self._room = asyncio.Event()
        self.state = ClientState.OPEN
        self.close_code: int | None = None
        self.subs: dict[str, Subscription] = {}
        # Identity, set once hello is accepted.
        self.visitor_id: str | None = None
        self.agent: Any = None
        self.held: set[str] = set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def agent_id(self) -> str | None:
        return None if self.agent is None else str(self.agent.id)

    @property
    def is_open(self) -> bool:
        return self.state is ClientState.OPEN

    def start(self) -> None:
        if self._writer is not None:
            raise RuntimeError("Client.start() was already called; a client has one writer task")
        self._writer = asyncio.create_task(self._write(), name=f"writer-{self.role}")

    def send(self, frame: str) -> bool:
        """Queue a frame without waiting; False (and the client is closing) when it is full."""
        if self.state is not ClientState.OPEN:
            return False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("slow client disconnected", extra={"role": self.role})
            if self._on_overflow is not None:
                self._on_overflow()
            self.begin_close(SLOW_CLIENT_CLOSE, "send queue full; reconnect and resume")
            return False
        return True

    async def wait_room(self) -> None:
        """For replays only (live fan-out never waits): wait until the queue is at most half
        full, so a long backlog streams at the client's pace instead of overflowing it."""
        half = self._queue.maxsize // 2
        while self.state is ClientState.OPEN and self._queue.qsize() > half:
            self._room.clear()
            await self._room.wait()

    def begin_close(self, code: int, reason: str) -> None:
        """Stop queuing; the writer sends what is queued before the close frame... unless the
        queue overflowed, in which case the client is closed at once."""
        if self.state is not ClientState.OPEN:
            return
        self.state = ClientState.CLOSING
        self.close_code = code
        overflow = self._queue.full()
        if overflow:
            while not self._queue.empty():
                self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._pending_close = (code, reason)
        self._room.set()

    async def _write(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                if self._queue.qsize() <= self._queue.maxsize // 2:
                    self._room.set()
                if frame is None:
                    code, reason = self._pending_close
                    await self._close(code, reason)
                    break
                await self._send_text(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away under us
            log.debug("writer stopped", extra={"role": self.role, "error": repr(exc)})
        finally:
            self.state = ClientState.CLOSED
            self._room.set()

    async def finish(self, *, peer_gone: bool, timeout: float = 1.0) -> None:
        """End the writer: at once when the peer is gone, else after what is queued (and the
        close frame, if one was asked for) went out, within `timeout`."""
        if self._writer is None:
            return
        if peer_gone:
            self._writer.cancel()
        elif self.state is ClientState.OPEN:
            self.begin_close(1000, "")
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()
        except Exception as exc:
            log.debug("writer ended with an error", extra={"error": repr(exc)})
        self.state = ClientState.CLOSED
