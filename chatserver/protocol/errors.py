"""The protocol's exceptions and its two code tables.

:mod:`chatserver.protocol.errors` defines one tree::

    ChatProtocolException             anything this package raises
    ├── ProtocolError                 answered with an ``error`` frame: .code, .message, .ref
    │   ├── BadFrame                  bad_frame      — not JSON, unknown type, missing/wrong field
    │   ├── Unauthorized              unauthorized   — no (valid) hello yet
    │   ├── Forbidden                 forbidden      — the role lacks the right
    │   ├── NotFound                  not_found      — no such conversation / offer / agent
    │   ├── Conflict                  conflict       — e.g. offer already taken, rated twice
    │   ├── RateLimited               rate_limited   — over the token bucket; frame dropped
    │   ├── TooLarge                  too_large      — text longer than the configured limit
    │   ├── Unavailable               unavailable    — a dependency (Redis, store) is down
    │   └── InternalError             internal       — a bug; details stay in the log
    └── InvalidState                  the adapter called a method at the wrong time (a bug)

:class:`ErrorCode` lists the codes an ``error`` frame may carry; :class:`CloseCode` the WebSocket
close codes the adapter closes with. Layers above the protocol (the conversation service, the
router adapter) raise :class:`ProtocolError` subclasses; the WebSocket adapter turns them into
``error`` frames with :meth:`ProtocolConnection.send_error`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import ClassVar

__all__ = [
    "ERROR_CLASSES",
    "BadFrame",
    "ChatProtocolException",
    "CloseCode",
    "Conflict",
    "ErrorCode",
    "Forbidden",
    "InternalError",
    "InvalidState",
    "NotFound",
    "ProtocolError",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "error_for_code",
]


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` frame. Exactly these; clients switch on them."""

    BAD_FRAME = "bad_frame"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes the hub closes with."""

    NORMAL = 1000  #: the conversation or session ended normally
    MESSAGE_TOO_BIG = 1009  #: a frame over ``max_frame_bytes``
    SERVICE_RESTART = 1012  #: the hub node is shutting down; reconnect (elsewhere) and resume
    NOT_AUTHENTICATED = 4401  #: no valid ``hello`` in time, or the token was rejected
    FORBIDDEN = 4403  #: origin not allowed, or the role lacks the right
    RATE_LIMITED = 4429  #: rate limit exceeded repeatedly


class ChatProtocolException(Exception):
    """Base class of every exception this package raises."""


class ProtocolError(ChatProtocolException):
    """An error the client is told about in an ``error`` frame.

    ``ref`` is the client frame's ``ref`` (a string of at most 64 characters) or ``None``.
    Raise a subclass; the generic class takes any :class:`ErrorCode`.
    """

    code: ErrorCode

    def __init__(self, code: ErrorCode | str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.ref = ref

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code.value!r}, message={self.message!r}, ref={self.ref!r})"


class _FixedCodeError(ProtocolError):
    """A :class:`ProtocolError` whose code is fixed by its class."""

    fixed_code: ClassVar[ErrorCode]

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(self.fixed_code, message, ref)


class BadFrame(_FixedCodeError):
    """Not JSON, not an object, unknown type, missing or wrongly typed field."""

    fixed_code = ErrorCode.BAD_FRAME


class Unauthorized(_FixedCodeError):
    """A frame other than ``hello`` before the hello was accepted."""

    fixed_code = ErrorCode.UNAUTHORIZED


class Forbidden(_FixedCodeError):
    """The caller's role or assignment does not allow this."""

    fixed_code = ErrorCode.FORBIDDEN


class NotFound(_FixedCodeError):
    """No such conversation, offer or agent (or not one the caller may see)."""

    fixed_code = ErrorCode.NOT_FOUND


class Conflict(_FixedCodeError):
    """The request conflicts with the current state: offer taken or expired, rated twice…"""

    fixed_code = ErrorCode.CONFLICT


class RateLimited(_FixedCodeError):
    """Over the per-connection token bucket; the frame was dropped."""

    fixed_code = ErrorCode.RATE_LIMITED


class TooLarge(_FixedCodeError):
    """A text longer than the configured limit; the frame was dropped."""

    fixed_code = ErrorCode.TOO_LARGE


class Unavailable(_FixedCodeError):
    """A dependency (Redis, the transcript store) does not answer; retry later."""

    fixed_code = ErrorCode.UNAVAILABLE


class InternalError(_FixedCodeError):
    """A bug on the server side; the details stay in the server log."""

    fixed_code = ErrorCode.INTERNAL


#: The subclass for each code, for layers that hold a code and want the matching exception.
ERROR_CLASSES: dict[ErrorCode, type[_FixedCodeError]] = {
    cls.fixed_code: cls
    for cls in (
        BadFrame,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        RateLimited,
        TooLarge,
        Unavailable,
        InternalError,
    )
}


def error_for_code(code: ErrorCode | str, message: str, ref: str | None = None) -> ProtocolError:
    """Build the :class:`ProtocolError` subclass that matches ``code``."""
    return ERROR_CLASSES[ErrorCode(code)](message, ref)


class InvalidState(ChatProtocolException, AssertionError):
    """The adapter called a :class:`ProtocolConnection` method at the wrong time.

    This is a bug in the caller, never the client's fault; the message says what to do instead.
    """
