"""Drive a ProtocolConnection without sockets: frames in, commands and frames out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatserver.protocol import Command, Limits, ProtocolConnection, Role, State

NOW = 100.0


@dataclass
class Result:
    commands: list[Command]
    frames: list[dict[str, Any]]
    close: tuple[int, str] | None


def new(
    role: Role = "visitor", limits: Limits | None = None, at: float = NOW
) -> ProtocolConnection:
    return ProtocolConnection(role, limits, created_at=at)


def ready(role: Role = "visitor", limits: Limits | None = None) -> ProtocolConnection:
    """A connection whose hello was accepted."""
    conn = new(role, limits)
    token = None if role == "visitor" else "agent-token"
    res = feed(conn, {"type": "hello", "token": token})
    assert len(res.commands) == 1
    conn.hello_accepted()
    assert conn.state is State.READY
    return conn


def feed(conn: ProtocolConnection, frame: Any, now: float = NOW) -> Result:
    """Send a frame (a dict/list/number is dumped to JSON; str and bytes go as they are)."""
    data = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    conn.receive_text(data, now)
    return Result(
        conn.commands_received(),
        [json.loads(f) for f in conn.data_to_send()],
        conn.close_requested(),
    )


def expect_error(
    conn: ProtocolConnection,
    frame: Any,
    code: str,
    *,
    ref: str | None = None,
    contains: tuple[str, ...] = (),
    now: float = NOW,
) -> dict[str, Any]:
    """The frame yields exactly one error frame, no command, and the connection stays READY."""
    res = feed(conn, frame, now)
    assert res.commands == []
    assert len(res.frames) == 1, res.frames
    (err,) = res.frames
    assert set(err) == {"type", "code", "message", "ref"}
    assert err["type"] == "error"
    assert err["code"] == code, err
    assert err["ref"] == ref, err
    for fragment in contains:
        assert fragment in err["message"], (fragment, err["message"])
    assert res.close is None
    assert conn.state is State.READY
    return err
