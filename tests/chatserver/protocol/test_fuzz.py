"""Fuzzing receive_text: it never raises, and always yields a command or a well-formed error."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.protocol import (
    COMMAND_CLASSES,
    ErrorCode,
    Hello,
    Limits,
    Message,
    Note,
    ProtocolConnection,
    Role,
    State,
    Tag,
)
from chatserver.protocol._reader import FIELDS

from .helpers import NOW

# No rate limiting here: every frame must be judged on its content alone.
LIMITS = Limits(rate_per_s=1e9, rate_burst=10**9, max_text_chars=50, max_frame_bytes=4096)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
FIELD_NAMES = sorted({name for names in FIELDS.values() for name in names} | {"ref"})
interesting_values = (
    json_values
    | st.sampled_from(
        [
            "c1",
            "",
            " ",
            "x" * 65,
            "a@b.co",
            "online",
            "away",
            "billing",
            "en-US",
            "general",
            "es",
            "https://x.y/",
        ]
    )
    | st.integers(min_value=-2, max_value=7)
    | st.lists(st.text(max_size=45), max_size=22)
)
frame_objects = st.builds(
    lambda frame_type, fields: {"type": frame_type, **fields},
    st.sampled_from([*COMMAND_CLASSES, "bogus", ""]),
    st.dictionaries(st.sampled_from(FIELD_NAMES), interesting_values, max_size=7),
)


def ready(role: Role) -> ProtocolConnection:
    conn = ProtocolConnection(role, LIMITS, created_at=NOW)
    conn.receive_text(json.dumps({"type": "hello", "token": "t"}), NOW)
    assert conn.commands_received()
    conn.hello_accepted()
    return conn


def expected_ref(data: str | bytes) -> str | None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(obj, dict):
        ref = obj.get("ref")
        if isinstance(ref, str) and len(ref) <= 64:
            return ref
    return None


def check_one_outcome(conn: ProtocolConnection, data: str | bytes, *, ready_state: bool) -> None:
    conn.receive_text(data, NOW)  # must not raise
    commands = conn.commands_received()
    out = [orjson.loads(f) for f in conn.data_to_send()]
    close = conn.close_requested()
    size = len(data if isinstance(data, bytes) else data.encode(errors="surrogatepass"))
    if size > conn.settings.max_frame_bytes:
        assert close is not None and close[0] == 1009
        assert commands == [] and out == []
        return
    if commands:
        (command,) = commands
        assert isinstance(command, tuple(COMMAND_CLASSES.values()))
        assert command.ref == expected_ref(data)
        assert out == []
        check_command(command)
        if ready_state:
            assert conn.state is State.READY
        else:
            assert isinstance(command, Hello) and conn.hello_pending
        return
    assert len(out) == 1, out
    (err,) = out
    assert set(err) == {"type", "code", "message", "ref"}
    assert err["type"] == "error"
    assert err["code"] in {c.value for c in ErrorCode}
    assert isinstance(err["message"], str) and err["message"]
    assert err["ref"] is None or (isinstance(err["ref"], str) and len(err["ref"]) <= 64)
    assert err["ref"] == expected_ref(data)
    if ready_state:
        assert err["code"] in {"bad_frame", "too_large", "conflict"}
        assert conn.state is State.READY and close is None
    elif err["code"] == "unauthorized":
        assert close is not None and close[0] == 4401
    else:
        assert err["code"] in {"bad_frame", "too_large"}
        assert conn.state is State.AWAITING_HELLO and close is None


def check_command(command: Any) -> None:
    if isinstance(command, Message | Note):
        assert command.text == command.text.strip() and 0 < len(command.text) <= 50
    if isinstance(command, Tag):
        assert 1 <= len(command.tags) + len(command.remove)
        assert len(command.tags) <= 20 and len(command.remove) <= 20
        assert not set(command.tags) & set(command.remove)
        for t in (*command.tags, *command.remove):
            assert t == t.strip().lower() and 0 < len(t) <= 40
    for name in ("conversation_id", "client_id", "offer_id"):
        value = getattr(command, name, None)
        if value is not None:
            assert isinstance(value, str) and 0 < len(value) <= 64
    for name in ("topic", "to_topic"):
        value = getattr(command, name, None)
        assert value is None or value in LIMITS.topics
    language = getattr(command, "language", None)
    assert language is None or language in LIMITS.languages


@FUZZ
@given(role=st.sampled_from(["visitor", "agent"]), text=st.text(max_size=300))
def test_arbitrary_text(role: Role, text: str) -> None:
    check_one_outcome(ready(role), text, ready_state=True)


@FUZZ
@given(
    role=st.sampled_from(["visitor", "agent"]), text=st.text(max_size=200), size=st.integers(8, 120)
)
def test_arbitrary_text_against_a_small_frame_limit(role: Role, text: str, size: int) -> None:
    conn = ProtocolConnection(role, replace(LIMITS, max_frame_bytes=size), created_at=NOW)
    conn.receive_text(json.dumps({"type": "hello", "token": "t"}), NOW)
    if conn.close_requested() is not None:  # the hello itself was too big
        return
    conn.commands_received()
    conn.hello_accepted()
    check_one_outcome(conn, text, ready_state=True)


@FUZZ
@given(role=st.sampled_from(["visitor", "agent"]), data=st.binary(max_size=300))
def test_arbitrary_bytes(role: Role, data: bytes) -> None:
    check_one_outcome(ready(role), data, ready_state=True)


@FUZZ
@given(role=st.sampled_from(["visitor", "agent"]), value=json_values)
def test_arbitrary_json(role: Role, value: Any) -> None:
    check_one_outcome(ready(role), orjson.dumps(value).decode(), ready_state=True)


@FUZZ
@given(role=st.sampled_from(["visitor", "agent"]), frame=frame_objects)
def test_frame_shaped_objects(role: Role, frame: dict[str, Any]) -> None:
    check_one_outcome(ready(role), orjson.dumps(frame).decode(), ready_state=True)


@FUZZ
@given(role=st.sampled_from(["visitor", "agent"]), frame=frame_objects | json_values)
def test_before_hello(role: Role, frame: Any) -> None:
    conn = ProtocolConnection(role, LIMITS, created_at=NOW)
    check_one_outcome(conn, orjson.dumps(frame).decode(), ready_state=False)


@FUZZ
@given(role=st.sampled_from(["visitor", "agent"]), frames=st.lists(frame_objects, max_size=30))
def test_a_stream_of_frames_never_closes_a_ready_connection(
    role: Role, frames: list[dict[str, Any]]
) -> None:
    conn = ready(role)
    for frame in frames:
        check_one_outcome(conn, orjson.dumps(frame).decode(), ready_state=True)
    assert conn.state is State.READY
