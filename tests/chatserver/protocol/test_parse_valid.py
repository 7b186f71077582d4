"""Every client frame type parses into its command, for each role that may send it."""

from __future__ import annotations

from typing import Any

import pytest

from chatserver.protocol import (
    AGENT_TYPES,
    COMMAND_CLASSES,
    VISITOR_TYPES,
    Accept,
    Close,
    Command,
    Decline,
    Handoff,
    Hello,
    LeaveMessage,
    Limits,
    Message,
    Note,
    Ping,
    Rate,
    Read,
    Resume,
    Role,
    Start,
    State,
    Status,
    Tag,
    Transfer,
    Typing,
)
from chatserver.protocol.commands import Identify

from .helpers import feed, new, ready

# One valid frame per type and the command it must give (ref "r" everywhere).
VALID: dict[str, tuple[dict[str, Any], Command]] = {
    "start": (
        {
            "type": "start",
            "topic": "billing",
            "language": "en",
            "name": "Ann",
            "email": "ann@example.com",
            "text": "Hi",
            "page_url": "https://shop.example/cart",
        },
        Start("billing", "en", "Ann", "ann@example.com", "Hi", "https://shop.example/cart"),
    ),
    "message": (
        {"type": "message", "conversation_id": "c1", "client_id": "u-1", "text": "hello"},
        Message("c1", "u-1", "hello"),
    ),
    "typing": ({"type": "typing", "conversation_id": "c1", "active": True}, Typing("c1", True)),
    "read": ({"type": "read", "conversation_id": "c1", "seq": 7}, Read("c1", 7)),
    "resume": ({"type": "resume", "conversation_id": "c1", "last_seq": 0}, Resume("c1", 0)),
    "close": ({"type": "close", "conversation_id": "c1"}, Close("c1")),
    "handoff": ({"type": "handoff", "conversation_id": "c1"}, Handoff("c1")),
    "rate": (
        {"type": "rate", "conversation_id": "c1", "score": 5, "comment": "great"},
        Rate("c1", 5, "great"),
    ),
    "leave_message": (
        {
            "type": "leave_message",
            "topic": "general",
            "language": "es",
            "text": "call me",
            "email": "x@y.org",
            "name": "Xi",
        },
        LeaveMessage("general", "es", "call me", "x@y.org", "Xi"),
    ),
    "identify": (
        {"type": "identify", "user_id": " u 42 ", "user_hash": "ab12", "name": " Ada "},
        Identify(user_id=" u 42 ", user_hash="ab12", name="Ada"),
    ),
    "ping": ({"type": "ping"}, Ping()),
    "status": ({"type": "status", "status": "online"}, Status("online")),
    "accept": ({"type": "accept", "offer_id": "o1"}, Accept("o1")),
    "decline": ({"type": "decline", "offer_id": "o1"}, Decline("o1")),
    "transfer": (
        {"type": "transfer", "conversation_id": "c1", "to_agent": "bob"},
        Transfer("c1", to_agent="bob"),
    ),
    "note": ({"type": "note", "conversation_id": "c1", "text": "VIP"}, Note("c1", "VIP")),
    "tag": (
        {"type": "tag", "conversation_id": "c1", "tags": ["Refund", " vip "]},
        Tag("c1", ("refund", "vip")),
    ),
}


def with_ref(command: Command, ref: str | None) -> Command:
    from dataclasses import replace

    return replace(command, ref=ref)


def test_every_type_has_a_valid_example() -> None:
    assert set(VALID) | {"hello"} == set(COMMAND_CLASSES)
    assert set(VISITOR_TYPES) | set(AGENT_TYPES) == set(COMMAND_CLASSES)


@pytest.mark.parametrize("frame_type", [t for t in VISITOR_TYPES if t != "hello"])
def test_visitor_frames_parse(frame_type: str) -> None:
    frame, command = VALID[frame_type]
    conn = ready("visitor")
    res = feed(conn, {**frame, "ref": "r"})
    assert res.commands == [with_ref(command, "r")]
    assert res.close is None
    assert conn.state is State.READY


@pytest.mark.parametrize("frame_type", [t for t in AGENT_TYPES if t != "hello"])
def test_agent_frames_parse(frame_type: str) -> None:
    frame, command = VALID[frame_type]
    conn = ready("agent")
    res = feed(conn, {**frame, "ref": "r"})
    assert res.commands == [with_ref(command, "r")]
    assert res.close is None


@pytest.mark.parametrize("frame_type", sorted(VALID))
def test_answers_are_left_to_the_adapter(frame_type: str) -> None:
    """The protocol's own output is errors only; ack, pong and the rest come from the adapter."""
    frame, _ = VALID[frame_type]
    role: Role = "visitor" if frame_type in VISITOR_TYPES else "agent"
    res = feed(ready(role), frame)
    assert res.frames == []


@pytest.mark.parametrize(
    ("frame", "command"),
    [
        ({"type": "hello", "token": None}, Hello(None)),
        ({"type": "hello"}, Hello(None)),
        (
            {"type": "hello", "token": "v-tok", "site": "shop", "ref": "h"},
            Hello("v-tok", "shop", ref="h"),
        ),
    ],
)
def test_visitor_hello(frame: dict[str, Any], command: Hello) -> None:
    conn = new("visitor")
    res = feed(conn, frame)
    assert res.commands == [command]
    assert res.frames == []
    assert conn.hello_pending
    assert conn.hello_deadline is None
    conn.hello_accepted()
    assert conn.state is State.READY


def test_agent_hello() -> None:
    conn = new("agent")
    assert feed(conn, {"type": "hello", "token": "jwt"}).commands == [Hello("jwt")]


def test_ref_null_counts_as_absent_and_empty_ref_is_kept() -> None:
    conn = ready()
    assert feed(conn, {"type": "close", "conversation_id": "c", "ref": None}).commands == [
        Close("c")
    ]
    assert feed(conn, {"type": "close", "conversation_id": "c", "ref": ""}).commands == [
        Close("c", ref="")
    ]
    ref64 = "r" * 64
    assert feed(conn, {"type": "close", "conversation_id": "c", "ref": ref64}).commands == [
        Close("c", ref=ref64)
    ]


def test_bytes_are_accepted_as_utf8_text() -> None:
    conn = ready()
    res = feed(
        conn, '{"type":"message","conversation_id":"c","client_id":"u","text":"¡hola!"}'.encode()
    )
    assert res.commands == [Message("c", "u", "¡hola!")]


# -- normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("EN-us", "en"),
        ("en_GB", "en"),
        (" es ", "es"),
        ("zh-Hant-TW", "zh"),
        ("AR", "ar"),
    ],
)
def test_language_is_normalised(given: str, expected: str) -> None:
    res = feed(ready(), {"type": "start", "topic": "general", "language": given})
    assert res.commands == [Start("general", expected)]


def test_full_language_tag_wins_when_offered() -> None:
    limits = Limits(languages=("en", "pt-BR", "pt"))
    conn = ready(limits=limits)
    assert feed(conn, {"type": "start", "topic": "general", "language": "pt_br"}).commands == [
        Start("general", "pt-BR")
    ]
    assert feed(conn, {"type": "start", "topic": "general", "language": "pt-PT"}).commands == [
        Start("general", "pt")
    ]


def test_topic_matches_case_insensitively_and_uses_configured_spelling() -> None:
    limits = Limits(topics=("general", "Sales"))
    res = feed(ready(limits=limits), {"type": "start", "topic": "SALES", "language": "en"})
    assert res.commands == [Start("Sales", "en")]


def test_text_is_stripped() -> None:
    res = feed(
        ready(),
        {"type": "message", "conversation_id": "c", "client_id": "u", "text": "  two\nlines \n"},
    )
    assert res.commands == [Message("c", "u", "two\nlines")]


def test_text_at_the_limit_is_accepted() -> None:
    text = "é" * 4000
    res = feed(ready("agent"), {"type": "note", "conversation_id": "c", "text": text})
    assert res.commands == [Note("c", text)]


def test_start_optional_fields_may_be_null_empty_or_absent() -> None:
    conn = ready()
    for frame in (
        {"type": "start", "topic": "account", "language": "ar"},
        {
            "type": "start",
            "topic": "account",
            "language": "ar",
            "name": None,
            "email": None,
            "text": None,
            "page_url": None,
        },
        {
            "type": "start",
            "topic": "account",
            "language": "ar",
            "name": " ",
            "email": "",
            "text": "  ",
            "page_url": "",
        },
    ):
        assert feed(conn, frame).commands == [Start("account", "ar")]


def test_start_name_and_email_are_stripped() -> None:
    res = feed(
        ready(),
        {
            "type": "start",
            "topic": "general",
            "language": "en",
            "name": "  Ann Lee ",
            "email": " ann@ex.com ",
        },
    )
    assert res.commands == [Start("general", "en", name="Ann Lee", email="ann@ex.com")]


def test_tags_are_lowercased_stripped_and_deduplicated_in_order() -> None:
    res = feed(
        ready("agent"), {"type": "tag", "conversation_id": "c", "tags": ["B", "a", " b ", "A", "c"]}
    )
    assert res.commands == [Tag("c", ("b", "a", "c"))]


def test_tag_without_remove_removes_nothing() -> None:
    res = feed(ready("agent"), {"type": "tag", "conversation_id": "c", "tags": ["a"]})
    assert res.commands == [Tag("c", ("a",), remove=())]
    res = feed(
        ready("agent"), {"type": "tag", "conversation_id": "c", "tags": ["a"], "remove": None}
    )
    assert res.commands == [Tag("c", ("a",), remove=())]


@pytest.mark.parametrize(
    ("fields", "command"),
    [
        ({"tags": [], "remove": ["Refund"]}, Tag("c", (), remove=("refund",))),
        (
            {"tags": ["VIP"], "remove": [" refund ", "B", "REFUND", "b"]},
            Tag("c", ("vip",), remove=("refund", "b")),
        ),
        ({"tags": [], "remove": [f"t{i}" for i in range(20)]}, None),
    ],
)
def test_tag_remove_is_normalised_like_tags(fields: dict[str, Any], command: Tag | None) -> None:
    res = feed(ready("agent"), {"type": "tag", "conversation_id": "c", **fields, "ref": "t1"})
    assert res.frames == []
    [got] = res.commands
    assert isinstance(got, Tag) and got.ref == "t1"
    if command is not None:
        assert (got.tags, got.remove) == (command.tags, command.remove)
    else:
        assert got.remove == tuple(fields["remove"]) and got.tags == ()


def test_transfer_to_topic() -> None:
    res = feed(
        ready("agent"),
        {"type": "transfer", "conversation_id": "c", "to_topic": "Billing", "to_agent": None},
    )
    assert res.commands == [Transfer("c", to_topic="billing")]


def test_status_away_and_typing_false_and_read_zero() -> None:
    conn = ready("agent")
    assert feed(conn, {"type": "status", "status": "away"}).commands == [Status("away")]
    assert feed(conn, {"type": "typing", "conversation_id": "c", "active": False}).commands == [
        Typing("c", False)
    ]
    assert feed(conn, {"type": "read", "conversation_id": "c", "seq": 0}).commands == [Read("c", 0)]


def test_rate_without_comment_and_score_bounds() -> None:
    conn = ready()
    assert feed(conn, {"type": "rate", "conversation_id": "c", "score": 1}).commands == [
        Rate("c", 1)
    ]
    assert feed(
        conn, {"type": "rate", "conversation_id": "c", "score": 5, "comment": ""}
    ).commands == [Rate("c", 5)]


def test_leave_message_with_conversation_id() -> None:
    res = feed(
        ready(),
        {
            "type": "leave_message",
            "topic": "general",
            "language": "en-GB",
            "text": "x",
            "email": "a@b.cd",
            "conversation_id": "c9",
        },
    )
    assert res.commands == [LeaveMessage("general", "en", "x", "a@b.cd", conversation_id="c9")]


def test_large_seq_up_to_javascript_safe_integer() -> None:
    res = feed(ready(), {"type": "resume", "conversation_id": "c", "last_seq": 2**53 - 1})
    assert res.commands == [Resume("c", 2**53 - 1)]


def test_commands_are_frozen() -> None:
    from dataclasses import FrozenInstanceError

    cmd = Message("c", "u", "t")
    with pytest.raises(FrozenInstanceError):
        cmd.text = "changed"  # type: ignore[misc]
    assert not hasattr(cmd, "__dict__")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "missing 'user_id'"),
        ({"user_hash": "ab"}, "needs the 'user_id'"),
        ({"token": "t.t.t", "user_id": "u"}, "not both"),
        ({"user_id": ""}, "'user_id' must be a non-empty string"),
        ({"user_id": 42}, "'user_id' must be a non-empty string"),
        ({"user_id": "u" * 257}, "at most 256"),
        ({"user_id": "u", "user_hash": "h" * 129}, "at most 128"),
        ({"token": "t" * 4097}, "at most 4096"),
        ({"token": ["t"]}, "'token' must be"),
        ({"user_id": "u", "email": "not-an-address"}, "'email' must be"),
        ({"user_id": "u", "name": "n" * 500}, "'name' must be"),
        ({"user_id": "u", "userId": "u"}, "unknown field"),
    ],
)
def test_identify_refuses_bad_fields(fields: dict[str, Any], message: str) -> None:
    conn = ready("visitor")
    res = feed(conn, {"type": "identify", **fields, "ref": "i"})
    assert res.commands == []
    (error,) = [f for f in res.frames if f["type"] == "error"]
    assert (error["code"], error["ref"]) == ("bad_frame", "i")
    assert message in error["message"], error["message"]


def test_identify_is_for_visitors_only() -> None:
    res = feed(ready("agent"), {"type": "identify", "token": "t.t.t", "ref": "i"})
    assert res.commands == []
    assert res.frames[0]["code"] == "bad_frame"
