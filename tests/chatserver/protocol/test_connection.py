"""The connection state machine: hello, timeouts, sizes, rate limits, closing."""

from __future__ import annotations

import json

import pytest

from chatserver.protocol import (
    CloseCode,
    Hello,
    InvalidState,
    Limits,
    Message,
    ProtocolConnection,
    Role,
    State,
)

from .helpers import NOW, feed, new, ready

MSG = {"type": "message", "conversation_id": "c", "client_id": "u", "text": "hi"}


def msg(i: int = 0, ref: str | None = None) -> dict[str, object]:
    frame: dict[str, object] = {**MSG, "client_id": f"u{i}"}
    if ref is not None:
        frame["ref"] = ref
    return frame


# -- construction ----------------------------------------------------------------------------


def test_initial_state() -> None:
    conn = new("agent")
    assert conn.state is State.AWAITING_HELLO
    assert conn.role == "agent"
    assert conn.settings == Limits()
    assert conn.hello_deadline == NOW + 10
    assert conn.commands_received() == []
    assert conn.data_to_send() == []
    assert conn.close_requested() is None
    assert "agent" in repr(conn) and "AWAITING_HELLO" in repr(conn)


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role"):
        ProtocolConnection("admin", created_at=0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"max_frame_bytes": 0},
        {"rate_per_s": -1.0},
        {"topics": ()},
        {"languages": ("en", "")},
        {"hello_timeout_s": 0},
        {"max_tags": 0},
    ],
)
def test_limits_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Limits"):
        Limits(**bad)  # type: ignore[arg-type]


def test_default_limits() -> None:
    limits = Limits()
    assert (limits.max_frame_bytes, limits.hello_timeout_s, limits.max_text_chars) == (
        65536,
        10,
        4000,
    )
    assert (limits.rate_per_s, limits.rate_burst, limits.rate_violations_before_close) == (
        10.0,
        20,
        5,
    )
    assert (limits.max_tags, limits.max_tag_chars) == (20, 40)
    assert limits.topics == ("general", "billing", "account", "technical")
    assert limits.languages == ("en", "es", "ar", "zh")


# -- hello -----------------------------------------------------------------------------------


def test_hello_accepted_makes_the_connection_ready() -> None:
    conn = new()
    res = feed(conn, {"type": "hello", "token": None, "ref": "h"})
    assert res.commands == [Hello(None, ref="h")]
    assert conn.hello_pending and conn.hello_deadline is None
    conn.hello_accepted()
    assert conn.state is State.READY and not conn.hello_pending


def test_hello_rejected_closes_with_4401() -> None:
    conn = new("agent")
    feed(conn, {"type": "hello", "token": "bad", "ref": "h"})
    conn.hello_rejected("token expired")
    assert conn.state is State.CLOSING
    assert conn.close_requested() == (4401, "token expired")
    (err,) = [json.loads(f) for f in conn.data_to_send()]
    assert err == {"type": "error", "code": "unauthorized", "message": "token expired", "ref": "h"}


@pytest.mark.parametrize("role", ["visitor", "agent"])
@pytest.mark.parametrize(
    "frame",
    [
        MSG,
        {"type": "ping"},
        {"type": "start", "topic": "general", "language": "en"},
        {"type": "status", "status": "online"},
        {"type": "bogus"},
        {"type": "read"},
    ],
)
def test_frames_before_hello_are_unauthorized_and_close_4401(
    role: Role, frame: dict[str, object]
) -> None:
    conn = new(role)
    res = feed(conn, {**frame, "ref": "early"})
    assert res.commands == []
    assert [(f["type"], f["code"], f["ref"]) for f in res.frames] == [
        ("error", "unauthorized", "early")
    ]
    assert res.close is not None and res.close[0] == 4401
    assert conn.state is State.CLOSING


@pytest.mark.parametrize("text", ["garbage", "[]", '{"no":"type"}', '{"type":3}'])
def test_unreadable_frames_before_hello_are_bad_frame_and_the_timer_runs(text: str) -> None:
    conn = new()
    res = feed(conn, text)
    assert [f["code"] for f in res.frames] == ["bad_frame"]
    assert conn.state is State.AWAITING_HELLO
    conn.check_timeouts(NOW + 10)
    assert conn.close_requested() == (4401, "no hello within 10 s")


def test_oversize_before_hello_is_1009() -> None:
    conn = new()
    feed(conn, "x" * 65537)
    assert conn.close_requested() is not None
    assert conn.close_requested()[0] == 1009  # type: ignore[index]


def test_hello_timeout() -> None:
    conn = new(at=50.0)
    conn.check_timeouts(59.9)
    assert conn.close_requested() is None
    conn.check_timeouts(60.0)
    assert conn.close_requested() == (CloseCode.NOT_AUTHENTICATED, "no hello within 10 s")
    assert conn.state is State.CLOSING
    assert conn.data_to_send() == []


def test_hello_timeout_follows_the_setting() -> None:
    conn = new(limits=Limits(hello_timeout_s=2.5), at=0.0)
    conn.check_timeouts(2.4)
    assert conn.close_requested() is None
    conn.check_timeouts(2.5)
    assert conn.close_requested() == (4401, "no hello within 2.5 s")


def test_a_late_hello_is_refused() -> None:
    conn = new(at=0.0)
    res = feed(conn, {"type": "hello", "token": None}, now=10.0)
    assert res.commands == []
    assert res.close == (4401, "no hello within 10 s")


def test_a_received_hello_stops_the_timer() -> None:
    conn = new(at=0.0)
    feed(conn, {"type": "hello", "token": None}, now=9.0)
    conn.check_timeouts(100.0)  # the token check is slow: not the client's fault
    assert conn.close_requested() is None
    conn.hello_accepted()
    conn.check_timeouts(1000.0)
    assert conn.state is State.READY


def test_timeouts_do_nothing_once_ready() -> None:
    conn = ready()
    conn.check_timeouts(NOW + 3600)
    assert conn.close_requested() is None


def test_feeding_while_the_hello_is_checked_is_a_bug() -> None:
    conn = new()
    feed(conn, {"type": "hello", "token": None})
    with pytest.raises(InvalidState, match="hello_accepted"):
        conn.receive_text(json.dumps(MSG), NOW)


@pytest.mark.parametrize("method", ["hello_accepted", "hello_rejected"])
def test_hello_verdict_without_a_hello_is_a_bug(method: str) -> None:
    with pytest.raises(InvalidState, match="without a hello"):
        getattr(new(), method)()
    conn = ready()
    with pytest.raises(InvalidState, match="already accepted"):
        getattr(conn, method)()


@pytest.mark.parametrize("method", ["hello_accepted", "hello_rejected"])
def test_hello_verdict_after_a_close_does_nothing(method: str) -> None:
    conn = new()
    feed(conn, {"type": "hello", "token": None})
    conn.close(CloseCode.SERVICE_RESTART, "shutting down")
    getattr(conn, method)()
    assert conn.state is State.CLOSING
    assert conn.close_requested() == (1012, "shutting down")
    assert conn.data_to_send() == []


# -- frame size ------------------------------------------------------------------------------


def frame_of_bytes(size: int, char: str = "x") -> str:
    head = '{"type":"ping","ref":"'
    tail = '"}'
    pad = size - len(head) - len(tail)
    width = len(char.encode())
    assert pad % width == 0
    return head + char * (pad // width) + tail


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"])
def test_frame_of_exactly_the_limit_is_read(char: str) -> None:
    limits = Limits(max_frame_bytes=1000)
    conn = ready(limits=limits)
    size = 1000 - (1000 - 24) % len(char.encode())
    text = frame_of_bytes(size, char)
    assert len(text.encode()) <= 1000
    res = feed(conn, text)
    assert res.close is None  # read (here: bad_frame, the ref is too long)
    assert [f["code"] for f in res.frames] == ["bad_frame"]


@pytest.mark.parametrize("char", ["x", "é", "😀"])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_oversize_frame_closes_1009_without_error_frame(char: str, as_bytes: bool) -> None:
    conn = ready()
    text = (
        '{"type":"message","conversation_id":"c","client_id":"u","text":"'
        + (char * (65536 // len(char.encode())))
        + '"}'
    )
    res = feed(conn, text.encode() if as_bytes else text)
    assert res.commands == [] and res.frames == []
    assert res.close is not None and res.close[0] == CloseCode.MESSAGE_TOO_BIG
    assert conn.state is State.CLOSING


def test_size_counts_utf8_bytes_not_characters() -> None:
    conn = ready(limits=Limits(max_frame_bytes=100))
    text = '{"type":"ping","ref":"' + "é" * 40 + '"}'  # 64 characters, 104 bytes
    assert len(text) <= 100 < len(text.encode())
    assert feed(conn, text).close == (1009, "frame larger than 100 bytes")


# -- after a close ---------------------------------------------------------------------------


def test_frames_after_a_close_request_are_discarded() -> None:
    conn = ready()
    conn.close(1000, "bye")
    res = feed(conn, MSG)
    assert res.commands == [] and res.frames == []
    assert res.close == (1000, "bye")


def test_the_first_close_wins() -> None:
    conn = ready()
    conn.close(CloseCode.FORBIDDEN, "origin not allowed")
    conn.close(1000, "later")
    assert conn.close_requested() == (4403, "origin not allowed")


def test_close_reason_is_cut_to_123_bytes() -> None:
    conn = ready()
    conn.close(1000, "€" * 100)
    close = conn.close_requested()
    assert close is not None
    assert len(close[1].encode()) <= 123 and close[1] == "€" * 41


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
def test_close_refuses_unsendable_codes(code: int) -> None:
    with pytest.raises(ValueError, match="close code"):
        ready().close(code)


def test_close_codes() -> None:
    assert {c.name: int(c) for c in CloseCode} == {
        "NORMAL": 1000,
        "MESSAGE_TOO_BIG": 1009,
        "SERVICE_RESTART": 1012,
        "NOT_AUTHENTICATED": 4401,
        "FORBIDDEN": 4403,
        "RATE_LIMITED": 4429,
    }


def test_connection_closed_and_after() -> None:
    conn = ready()
    conn.connection_closed()
    assert conn.state is State.CLOSED
    conn.connection_closed()  # idempotent
    conn.close(1000)  # no effect
    assert conn.close_requested() is None
    conn.send_error("internal", "late")  # dropped
    assert conn.data_to_send() == []
    conn.check_timeouts(NOW + 100)
    with pytest.raises(InvalidState, match="stop reading"):
        conn.receive_text("{}", NOW)


def test_connection_closed_before_hello() -> None:
    conn = new()
    conn.connection_closed()
    conn.check_timeouts(NOW + 100)
    assert conn.close_requested() is None


# -- send_error ------------------------------------------------------------------------------


def test_send_error() -> None:
    conn = ready()
    conn.send_error("conflict", "offer already taken", "r9")
    conn.send_error("not_found", "no such conversation")
    assert [json.loads(f) for f in conn.data_to_send()] == [
        {"type": "error", "code": "conflict", "message": "offer already taken", "ref": "r9"},
        {"type": "error", "code": "not_found", "message": "no such conversation", "ref": None},
    ]
    assert conn.state is State.READY


def test_send_error_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError):
        ready().send_error("oops", "x")


def test_send_error_while_closing_is_dropped() -> None:
    conn = ready()
    conn.close(1012, "restart")
    conn.send_error("unavailable", "x")
    assert conn.data_to_send() == []


def test_output_is_handed_over_once() -> None:
    conn = ready()
    conn.receive_text(json.dumps(MSG), NOW)
    conn.receive_text("[]", NOW)
    assert conn.commands_received() == [Message("c", "u", "hi")]
    assert conn.commands_received() == []
    assert len(conn.data_to_send()) == 1
    assert conn.data_to_send() == []


# -- rate limiting ---------------------------------------------------------------------------


def test_burst_then_rate_limited() -> None:
    conn = ready()
    for i in range(20):
        assert len(feed(conn, msg(i)).commands) == 1
    res = feed(conn, msg(99, ref="over"))
    assert res.commands == []
    assert [(f["code"], f["ref"]) for f in res.frames] == [("rate_limited", "over")]
    assert "dropped" in res.frames[0]["message"]
    assert res.close is None
    assert conn.state is State.READY


def test_tokens_refill_with_time() -> None:
    conn = ready()
    for i in range(20):
        feed(conn, msg(i))
    assert feed(conn, msg(), now=NOW).frames[0]["code"] == "rate_limited"
    assert len(feed(conn, msg(), now=NOW + 0.1).commands) == 1  # 10/s: one token in 0.1 s
    assert feed(conn, msg(), now=NOW + 0.1).frames[0]["code"] == "rate_limited"
    for i in range(20):  # two seconds later the bucket is full again (and no fuller)
        assert len(feed(conn, msg(i), now=NOW + 10).commands) == 1
    assert feed(conn, msg(), now=NOW + 10).frames[0]["code"] == "rate_limited"


def test_a_clock_going_backwards_refills_nothing() -> None:
    conn = ready(limits=Limits(rate_burst=1, rate_violations_before_close=100))
    assert len(feed(conn, msg(), now=NOW).commands) == 1
    assert feed(conn, msg(), now=NOW - 50).frames[0]["code"] == "rate_limited"


def test_repeated_violations_close_4429() -> None:
    conn = ready(limits=Limits(rate_burst=2, rate_violations_before_close=3))
    feed(conn, msg())
    feed(conn, msg())
    for _ in range(2):
        res = feed(conn, msg())
        assert [f["code"] for f in res.frames] == ["rate_limited"]
        assert res.close is None
    res = feed(conn, msg(ref="last"))
    assert [(f["code"], f["ref"]) for f in res.frames] == [("rate_limited", "last")]
    assert "repeatedly" in res.frames[0]["message"]
    assert res.close == (4429, "rate limit exceeded repeatedly")
    assert conn.state is State.CLOSING


def test_violations_count_within_a_sliding_window() -> None:
    limits = Limits(
        rate_per_s=1.0, rate_burst=1, rate_violations_before_close=3, rate_violation_window_s=10.0
    )
    conn = ready(limits=limits)
    t = NOW
    feed(conn, msg(), now=t)
    feed(conn, msg(), now=t)  # violation 1 at t
    feed(conn, msg(), now=t + 1)  # a token: passes (not consecutive any more)
    feed(conn, msg(), now=t + 1)  # violation 2 at t+1
    assert conn.close_requested() is None
    feed(conn, msg(), now=t + 2)  # passes
    res = feed(conn, msg(), now=t + 2)  # violation 3 within 10 s: close
    assert res.close == (4429, "rate limit exceeded repeatedly")


def test_old_violations_leave_the_window() -> None:
    limits = Limits(
        rate_per_s=0.1, rate_burst=1, rate_violations_before_close=2, rate_violation_window_s=5.0
    )
    conn = ready(limits=limits)
    feed(conn, msg(), now=NOW)
    feed(conn, msg(), now=NOW)  # violation at NOW
    res = feed(conn, msg(), now=NOW + 5)  # violation; the first has left the window
    assert [f["code"] for f in res.frames] == ["rate_limited"]
    assert res.close is None


@pytest.mark.parametrize(
    ("role", "frame"),
    [("visitor", {"type": "ping"}), ("agent", {"type": "ping"})],
)
def test_ping_is_not_rate_limited(role: Role, frame: dict[str, object]) -> None:
    conn = ready(role, limits=Limits(rate_burst=1, rate_violations_before_close=1))
    for _ in range(200):
        res = feed(conn, frame)
        assert len(res.commands) == 1 and res.close is None


@pytest.mark.parametrize(
    ("role", "frame"),
    [
        ("visitor", {"type": "start", "topic": "general", "language": "en"}),
        ("visitor", {"type": "typing", "conversation_id": "c", "active": True}),
        # read too: relayed to the other side, it once let a visitor flood an agent
        ("visitor", {"type": "read", "conversation_id": "c", "seq": 1}),
        ("agent", {"type": "read", "conversation_id": "c", "seq": 1}),
        (
            "visitor",
            {
                "type": "leave_message",
                "topic": "general",
                "language": "en",
                "text": "t",
                "email": "a@b.cd",
            },
        ),
        ("visitor", {"type": "rate", "conversation_id": "c", "score": 3}),
        ("visitor", {"type": "resume", "conversation_id": "c", "last_seq": 0}),
        ("agent", {"type": "note", "conversation_id": "c", "text": "n"}),
        ("agent", {"type": "tag", "conversation_id": "c", "tags": ["a"]}),
        ("agent", {"type": "status", "status": "online"}),
        ("agent", {"type": "accept", "offer_id": "o"}),
        ("agent", MSG),
    ],
)
def test_limited_types_share_one_bucket(role: Role, frame: dict[str, object]) -> None:
    conn = ready(role, limits=Limits(rate_burst=1, rate_violations_before_close=10))
    assert len(feed(conn, MSG).commands) == 1  # takes the only token
    res = feed(conn, {**frame, "ref": "x"})
    assert res.commands == []
    assert [(f["code"], f["ref"]) for f in res.frames] == [("rate_limited", "x")]


def test_a_limited_frame_that_is_also_malformed_takes_a_token() -> None:
    conn = ready(limits=Limits(rate_burst=1, rate_violations_before_close=10))
    assert feed(conn, {"type": "message"}).frames[0]["code"] == "bad_frame"
    assert feed(conn, MSG).frames[0]["code"] == "rate_limited"


def test_unreadable_frames_do_not_take_tokens() -> None:
    conn = ready(limits=Limits(rate_burst=1, rate_violations_before_close=1))
    for _ in range(50):
        feed(conn, "nope")
        feed(conn, {"type": "accept", "offer_id": "o"})  # not a visitor type
    assert len(feed(conn, MSG).commands) == 1
