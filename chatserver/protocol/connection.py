"""The sans-I/O protocol core: one :class:`ProtocolConnection` per WebSocket connection.

Data in, commands and frames out, as websockets' ``protocol.py`` does it. The adapter owns the
socket and the clock and drives this object::

    conn = ProtocolConnection("visitor", limits, created_at=clock())
    # for each text frame read from the socket:
    conn.receive_text(text, clock())
    for frame in conn.data_to_send():        # error frames the protocol produced itself
        await outgoing.put(frame)
    for command in conn.commands_received(): # validated, typed commands
        ...                                  # a Hello: check the token, then
        ...                                  # conn.hello_accepted() or conn.hello_rejected()
    if (close := conn.close_requested()) is not None:
        ...                                  # flush data_to_send(), then close(*close)
    # every second or so: conn.check_timeouts(clock()), then look at close_requested() again
    # once the socket is gone: conn.connection_closed()

Nothing here reads the clock, touches a socket or awaits: time is an argument.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

from chatserver.protocol import frames
from chatserver.protocol._parse import check_role, decode, parse_fields, read_ref, read_type
from chatserver.protocol._ratelimit import TokenBucket
from chatserver.protocol.commands import TYPES_BY_ROLE, Command, Hello
from chatserver.protocol.errors import (
    CloseCode,
    Conflict,
    ErrorCode,
    InvalidState,
    ProtocolError,
    RateLimited,
)
from chatserver.protocol.limits import Limits
from chatserver.protocol.types import Role

__all__ = ["RATE_LIMITED_TYPES", "ProtocolConnection", "State"]

#: Frame types that take a token from the connection's bucket: all but ``hello`` (only one is
#: accepted) and ``ping`` (keepalive must always work). ``read`` too: relayed to the other side,
#: it once let a visitor flood an agent (the clients send one per 0.25 s at most).
RATE_LIMITED_TYPES: Final = frozenset(
    {
        "identify",
        "handoff",
        "start",
        "message",
        "typing",
        "read",
        "resume",
        "close",
        "rate",
        "leave_message",
        "status",
        "accept",
        "decline",
        "transfer",
        "note",
        "tag",
    }
)

#: The longest close reason a WebSocket close frame can carry, in UTF-8 bytes.
MAX_CLOSE_REASON_BYTES: Final = 123

_SENDABLE_CLOSE_CODES: Final = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


class State(Enum):
    """Where a connection is. Transitions only go forward::

    AWAITING_HELLO ──hello_accepted()──▶ READY
          │                                │
          └─── close(), fatal frame, timeout ──▶ CLOSING ──connection_closed()──▶ CLOSED
    """

    AWAITING_HELLO = auto()
    READY = auto()
    CLOSING = auto()
    CLOSED = auto()


def _truncate_reason(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


class ProtocolConnection:
    """The state machine of one visitor or agent WebSocket connection.

    ``created_at`` starts the hello timer (``settings.hello_timeout_s``); every other time is
    the ``now`` argument of the call. Times are seconds on any monotonic clock.
    """

    def __init__(self, role: Role, settings: Limits | None = None, *, created_at: float) -> None:
        if role not in TYPES_BY_ROLE:
            raise ValueError(f"role must be 'visitor' or 'agent', got {role!r}")
        self.role: Final[Role] = role
        self.settings: Final[Limits] = settings if settings is not None else Limits()
        self.created_at: Final[float] = created_at
        self._allowed_types = TYPES_BY_ROLE[role]
        self._state = State.AWAITING_HELLO
        self._hello_pending = False
        self._hello_ref: str | None = None
        self._bucket = TokenBucket(
            self.settings.rate_per_s,
            self.settings.rate_burst,
            self.settings.rate_violations_before_close,
            self.settings.rate_violation_window_s,
            created_at,
        )
        self._commands: list[Command] = []
        self._outgoing: list[str] = []
        self._close_request: tuple[int, str] | None = None

    def __repr__(self) -> str:
        return f"<ProtocolConnection {self.role} {self._state.name}>"

    # -- state ---------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection's :class:`State`."""
        return self._state

    @property
    def hello_pending(self) -> bool:
        """A ``hello`` came and waits for :meth:`hello_accepted` or :meth:`hello_rejected`."""
        return self._hello_pending

    @property
    def hello_deadline(self) -> float | None:
        """When :meth:`check_timeouts` closes with 4401 if no hello came; ``None`` once one did."""
        if self._state is State.AWAITING_HELLO and not self._hello_pending:
            return self.created_at + self.settings.hello_timeout_s
        return None

    # -- output ----------------------------------------------------------------------------------

    def commands_received(self) -> list[Command]:
        """The commands parsed since the last call (the list is handed over, then cleared)."""
        commands, self._commands = self._commands, []
        return commands

    def data_to_send(self) -> list[str]:
        """``error`` frames the protocol produced itself; send them before anything else."""
        data, self._outgoing = self._outgoing, []
        return data

    def close_requested(self) -> tuple[int, str] | None:
        """``(code, reason)`` once the connection must be closed; ``None`` until then.

        Send what :meth:`data_to_send` returns first, then close the socket with these.
        """
        return self._close_request

    # -- input -----------------------------------------------------------------------------------

    def receive_text(self, data: str | bytes, now: float) -> None:
        """Feed one WebSocket frame. Never raises for anything the client sent."""
        if self._state is State.CLOSED:
            raise InvalidState(
                "receive_text() after connection_closed(): the socket is gone, stop reading it"
            )
        if self._state is State.CLOSING:
            return  # frames still in flight after a close was decided are discarded
        if self._hello_pending:
            raise InvalidState(
                "a hello is waiting for its token check: call hello_accepted() or "
                "hello_rejected() before feeding the next frame"
            )
        if self._state is State.AWAITING_HELLO and self._hello_expired(now):
            return
        if self._too_big(data):
            self.close(
                CloseCode.MESSAGE_TOO_BIG,
                f"frame larger than {self.settings.max_frame_bytes} bytes",
            )
            return
        try:
            command = self._parse(data, now)
        except ProtocolError as exc:
            self._push_error(exc.code, exc.message, exc.ref)
            return
        if command is None:
            return
        if isinstance(command, Hello):
            self._hello_pending = True
            self._hello_ref = command.ref
        self._commands.append(command)

    def _too_big(self, data: str | bytes) -> bool:
        limit = self.settings.max_frame_bytes
        if isinstance(data, bytes) or len(data) > limit:
            return len(data) > limit
        if len(data) * 4 <= limit:  # UTF-8 takes at most 4 bytes a character
            return False
        return len(data.encode(errors="surrogatepass")) > limit

    def _parse(self, data: str | bytes, now: float) -> Command | None:
        obj = decode(data)
        ref = read_ref(obj)
        frame_type = read_type(obj, ref)
        if self._state is State.AWAITING_HELLO:
            if frame_type != "hello":
                self._push_error(
                    ErrorCode.UNAUTHORIZED,
                    f"send hello first; got {frame_type[:40]!r} before hello",
                    ref,
                )
                self.close(CloseCode.NOT_AUTHENTICATED, "frame before hello")
                return None
        else:
            check_role(frame_type, self.role, self._allowed_types, ref)
            if frame_type == "hello":
                raise Conflict("hello was already accepted on this connection", ref)
            if frame_type in RATE_LIMITED_TYPES:
                self._take_token(frame_type, ref, now)
        return parse_fields(frame_type, obj, ref, self.role, self.settings)

    def _take_token(self, frame_type: str, ref: str | None, now: float) -> None:
        allowed, exceeded = self._bucket.take(now)
        if allowed:
            return
        limits = self.settings
        limit = f"at most {limits.rate_per_s:g} a second, bursts of {limits.rate_burst}"
        if exceeded:
            self.close(CloseCode.RATE_LIMITED, "rate limit exceeded repeatedly")
            raise RateLimited(
                f"{frame_type}: rate limit exceeded repeatedly ({limit}); closing", ref
            )
        raise RateLimited(f"{frame_type}: too many frames ({limit}); this one was dropped", ref)

    def _push_error(self, code: ErrorCode, message: str, ref: str | None) -> None:
        self._outgoing.append(frames.error(code, message, ref))

    # -- hello -----------------------------------------------------------------------------------

    def _expect_pending_hello(self, method: str) -> bool:
        """True when a hello waits; False (do nothing) once closing; raise on a misuse."""
        if self._state in (State.CLOSING, State.CLOSED):
            return False
        if self._state is State.READY:
            raise InvalidState(f"{method}() called twice: the hello was already accepted")
        if not self._hello_pending:
            raise InvalidState(
                f"{method}() without a hello: call it only after commands_received() "
                "returned a Hello command"
            )
        return True

    def hello_accepted(self) -> None:
        """The adapter accepted the hello's token: AWAITING_HELLO → READY.

        Does nothing once the connection is closing (a close may race with the token check).
        """
        if self._expect_pending_hello("hello_accepted"):
            self._hello_pending = False
            self._state = State.READY

    def hello_rejected(self, reason: str = "invalid token") -> None:
        """The adapter rejected the hello's token: error ``unauthorized``, then close 4401."""
        if self._expect_pending_hello("hello_rejected"):
            self._hello_pending = False
            self._push_error(ErrorCode.UNAUTHORIZED, reason, self._hello_ref)
            self.close(CloseCode.NOT_AUTHENTICATED, reason)

    def _hello_expired(self, now: float) -> bool:
        deadline = self.hello_deadline
        if deadline is not None and now >= deadline:
            self.close(
                CloseCode.NOT_AUTHENTICATED,
                f"no hello within {self.settings.hello_timeout_s:g} s",
            )
            return True
        return False

    def check_timeouts(self, now: float) -> None:
        """Close with 4401 when no hello came by ``created_at + hello_timeout_s``."""
        if self._state is State.AWAITING_HELLO:
            self._hello_expired(now)

    # -- adapter helpers -------------------------------------------------------------------------

    def send_error(self, code: ErrorCode | str, message: str, ref: str | None = None) -> None:
        """Queue an ``error`` frame (e.g. from a :class:`ProtocolError` the service raised).

        Dropped once the connection is closing or closed.
        """
        code = ErrorCode(code)
        if self._state in (State.CLOSING, State.CLOSED):
            return
        self._outgoing.append(frames.error(code, message, ref))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Ask the adapter to close with ``code`` and ``reason`` → CLOSING. The first close wins."""
        if code not in _SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"{code} is not a close code that can be sent")
        if self._state in (State.CLOSING, State.CLOSED):
            return
        self._close_request = (int(code), _truncate_reason(reason))
        self._hello_pending = False
        self._state = State.CLOSING

    def connection_closed(self) -> None:
        """The socket is closed (by either side): → CLOSED. Idempotent."""
        self._hello_pending = False
        self._state = State.CLOSED
