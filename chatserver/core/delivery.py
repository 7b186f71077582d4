"""Per-connection delivery: a bounded send queue (with a writer task while it holds frames),
and per-conversation subscriptions that hand each stored event to the client exactly once, in
`seq` order.

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
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatserver.store.base import AgentRecord, StoredEvent

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
    pending: dict[int, StoredEvent] = field(default_factory=dict)
    skip: set[int] = field(default_factory=set)
    filling: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Client:
    """One WebSocket connection's outgoing side and identity.

    An idle connection holds no send queue and no writer task: both are made by the first
    `send` and dropped once the queue has drained (≈ 7 KiB less per idle socket than a
    standing `asyncio.Queue` and task). While frames are queued, exactly one writer task sends
    them in order; the bound, the overflow rule and the close sequence are the same whether
    or not a writer happens to be running.
    """

    __slots__ = (
        "__weakref__",
        "_close",
        "_held",
        "_max",
        "_on_overflow",
        "_pending_close",
        "_queue",
        "_room",
        "_send_text",
        "_writer",
        "agent",
        "close_code",
        "role",
        "state",
        "subs",
        "visitor_id",
    )

    def __init__(
        self,
        role: str,
        send_text: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        *,
        queue_frames: int,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        if queue_frames < 1:
            raise ValueError(f"queue_frames must be at least 1, not {queue_frames}")
        self.role = role
        self._send_text = send_text
        self._close = close
        self._max = queue_frames
        self._queue: deque[str] | None = None  # made by the first send, dropped when drained
        self._on_overflow = on_overflow
        self._pending_close: tuple[int, str] | None = None
        self._room: asyncio.Event | None = None  # made by the first `wait_room` that waits
        self._writer: asyncio.Task[None] | None = None
        self.state = ClientState.OPEN
        self.close_code: int | None = None
        self.subs: dict[str, Subscription] = {}
        # Identity, set once hello is accepted.
        self.visitor_id: str | None = None
        self.agent: AgentRecord | None = None  # an agent's, once its hello is accepted
        self._held: set[str] | None = None  # an agent's chats; made on first use

    @property
    def agent_id(self) -> str | None:
        return None if self.agent is None else self.agent.id

    @property
    def held(self) -> set[str]:
        """The conversations this (agent) connection holds, kept in step with the events."""
        if self._held is None:
            self._held = set()
        return self._held

    @property
    def is_open(self) -> bool:
        return self.state is ClientState.OPEN

    @property
    def queued(self) -> int:
        """Frames queued and not yet handed to the socket."""
        return 0 if self._queue is None else len(self._queue)

    @property
    def writing(self) -> bool:
        """Whether a writer task is running (only while something is queued or closing)."""
        return self._writer is not None

    def send(self, frame: str) -> bool:
        """Queue a frame without waiting; False (and the client is closing) when it is full."""
        if self.state is not ClientState.OPEN:
            return False
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        elif len(queue) >= self._max:
            log.warning("slow client disconnected", extra={"role": self.role})
            if self._on_overflow is not None:
                self._on_overflow()
            self.begin_close(SLOW_CLIENT_CLOSE, "send queue full; reconnect and resume")
            return False
        queue.append(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write(queue), name=f"writer-{self.role}"
            )
        return True

    async def wait_room(self) -> None:
        """For replays only (live fan-out never waits): wait until the queue is at most half
        full, so a long backlog streams at the client's pace instead of overflowing it."""
        half = self._max // 2
        while self.state is ClientState.OPEN and self.queued > half:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def begin_close(self, code: int, reason: str) -> None:
        """Stop queuing; the writer sends what is queued before the close frame... unless the
        queue overflowed, in which case the client is closed at once."""
        if self.state is not ClientState.OPEN:
            return
        self.state = ClientState.CLOSING
        self.close_code = code
        self._pending_close = (code, reason)
        queue = self._queue
        if queue is not None and len(queue) >= self._max:
            queue.clear()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write(queue or deque()), name=f"writer-{self.role}"
            )
        if self._room is not None:
            self._room.set()

    async def _write(self, queue: deque[str]) -> None:
        half = self._max // 2
        try:
            while queue:
                frame = queue.popleft()
                if self._room is not None and len(queue) <= half:
                    self._room.set()
                await self._send_text(frame)
            if self._pending_close is not None:
                code, reason = self._pending_close
                await self._close(code, reason)
                self.state = ClientState.CLOSED
        except asyncio.CancelledError:
            self.state = ClientState.CLOSED
            raise
        except Exception as exc:  # the socket went away under us
            log.debug("writer stopped", extra={"role": self.role, "error": repr(exc)})
            self.state = ClientState.CLOSED
        finally:
            # Nothing is queued now (or the client is closed): an idle client holds neither.
            self._writer = None
            self._queue = None
            if self._room is not None:
                self._room.set()

    async def finish(self, *, peer_gone: bool, timeout: float = 1.0) -> None:
        """End the writer: at once when the peer is gone, else after what is queued (and the
        close frame, if one was asked for) went out, within `timeout`."""
        if peer_gone:
            self.state = ClientState.CLOSED
            if self._writer is not None:
                self._writer.cancel()
        elif self.state is ClientState.OPEN:
            self.begin_close(1000, "")
        writer = self._writer
        if writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(writer), timeout)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            except Exception as exc:
                log.debug("writer ended with an error", extra={"error": repr(exc)})
        self.state = ClientState.CLOSED
