"""The exception tree and the error codes."""

from __future__ import annotations

import pytest

from chatserver.protocol import (
    ERROR_CLASSES,
    BadFrame,
    ChatProtocolException,
    Conflict,
    ErrorCode,
    InvalidState,
    ProtocolError,
    TooLarge,
    error_for_code,
)


def test_error_codes_are_exactly_the_contract() -> None:
    assert [c.value for c in ErrorCode] == [
        "bad_frame",
        "unauthorized",
        "forbidden",
        "not_found",
        "conflict",
        "rate_limited",
        "too_large",
        "unavailable",
        "internal",
    ]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_one_subclass_per_code(code: ErrorCode) -> None:
    cls = ERROR_CLASSES[code]
    exc = cls("message", "ref")
    assert isinstance(exc, ProtocolError) and isinstance(exc, ChatProtocolException)
    assert (exc.code, exc.message, exc.ref) == (code, "message", "ref")
    assert str(exc) == "message"
    made = error_for_code(code.value, "m")
    assert type(made) is cls and made.ref is None


def test_generic_protocol_error_and_repr() -> None:
    exc = ProtocolError("conflict", "taken", "r")
    assert exc.code is ErrorCode.CONFLICT
    assert repr(Conflict("taken", "r")) == "Conflict(code='conflict', message='taken', ref='r')"
    assert BadFrame("x").code == "bad_frame" and TooLarge("x").code == "too_large"
    with pytest.raises(ValueError):
        ProtocolError("nope", "x")


def test_invalid_state_is_in_the_tree() -> None:
    assert issubclass(InvalidState, ChatProtocolException)
    assert not issubclass(InvalidState, ProtocolError)
