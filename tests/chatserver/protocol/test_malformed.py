"""Every malformed frame gets the right error code, its ref back, and the connection stays open."""

from __future__ import annotations

from typing import Any

import pytest

from chatserver.protocol import AGENT_TYPES, VISITOR_TYPES, Limits, Role, State

from .helpers import expect_error, feed, ready
from .test_parse_valid import VALID

REF = "ref-1"
ALLOWED_TOPICS = "allowed: general, billing, account, technical"
ALLOWED_LANGUAGES = "allowed: en, es, ar, zh"


def role_for(frame_type: str) -> Role:
    return "visitor" if frame_type in VISITOR_TYPES else "agent"


def valid(frame_type: str, **changes: Any) -> dict[str, Any]:
    """The valid example of ``frame_type`` with fields changed (a value of ... removes it)."""
    frame = {**VALID[frame_type][0], "ref": REF}
    for key, value in changes.items():
        if value is ...:
            frame.pop(key, None)
        else:
            frame[key] = value
    return frame


# -- the envelope ------------------------------------------------------------------------------

NOT_FRAMES = [
    ("not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("{'type': 'ping'}", "not valid JSON"),
    ('{"type":"ping"} trailing', "not valid JSON"),
    ('{"type":"ping"', "not valid JSON"),
    ("NaN", "not valid JSON"),
    ("[1, 2]", "must be a JSON object, got an array"),
    ("[]", "got an array"),
    ("42", "got an integer"),
    ("4.5", "got a number"),
    ('"ping"', "got a string"),
    ("null", "got null"),
    ("true", "got a boolean"),
    ("{}", "missing field 'type'"),
    ('{"ref":"x"}', "missing field 'type'"),
]


@pytest.mark.parametrize("role", ["visitor", "agent"])
@pytest.mark.parametrize(("text", "fragment"), NOT_FRAMES)
def test_not_a_frame(role: Role, text: str, fragment: str) -> None:
    expected_ref = "x" if '"ref":"x"' in text else None
    expect_error(ready(role), text, "bad_frame", ref=expected_ref, contains=(fragment,))


def test_invalid_utf8_bytes() -> None:
    expect_error(ready(), b'{"type":"ping","ref":"\xff"}', "bad_frame", contains=("JSON",))


@pytest.mark.parametrize("role", ["visitor", "agent"])
@pytest.mark.parametrize("value", [1, 1.5, None, True, [], {}, ["ping"]])
def test_type_not_a_string(role: Role, value: Any) -> None:
    expect_error(
        ready(role),
        {"type": value, "ref": REF},
        "bad_frame",
        ref=REF,
        contains=("'type' must be a string",),
    )


@pytest.mark.parametrize("role", ["visitor", "agent"])
@pytest.mark.parametrize("frame_type", ["bogus", "", "Message", "PING", "welcome", "error"])
def test_unknown_type(role: Role, frame_type: str) -> None:
    expect_error(
        ready(role),
        {"type": frame_type, "ref": REF},
        "bad_frame",
        ref=REF,
        contains=(f"unknown type {frame_type!r}", f"{role} connection"),
    )


@pytest.mark.parametrize("frame_type", [t for t in AGENT_TYPES if t not in VISITOR_TYPES])
def test_agent_type_from_a_visitor(frame_type: str) -> None:
    err = expect_error(ready("visitor"), valid(frame_type), "bad_frame", ref=REF)
    assert err["message"].startswith(f"unknown type {frame_type!r} for a visitor connection")


@pytest.mark.parametrize("frame_type", [t for t in VISITOR_TYPES if t not in AGENT_TYPES])
def test_visitor_type_from_an_agent(frame_type: str) -> None:
    err = expect_error(ready("agent"), valid(frame_type), "bad_frame", ref=REF)
    assert err["message"].startswith(f"unknown type {frame_type!r} for an agent connection")


def test_the_brief_example_message() -> None:
    err = expect_error(ready("visitor"), {"type": "accept", "offer_id": "o"}, "bad_frame")
    assert "unknown type 'accept' for a visitor connection" in err["message"]


@pytest.mark.parametrize("ref", [5, 1.5, True, [], {}, "r" * 65])
def test_bad_ref_is_bad_frame_without_ref(ref: Any) -> None:
    expect_error(
        ready(),
        {"type": "ping", "ref": ref},
        "bad_frame",
        ref=None,
        contains=("'ref' must be a string of at most 64 characters",),
    )


def test_bad_ref_wins_over_other_problems() -> None:
    expect_error(ready(), {"type": "nope", "ref": 7}, "bad_frame", ref=None, contains=("'ref'",))


@pytest.mark.parametrize("frame_type", sorted(VALID))
def test_unknown_field(frame_type: str) -> None:
    err = expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, extra=1),
        "bad_frame",
        ref=REF,
        contains=("unknown field 'extra'", "allowed:"),
    )
    assert err["message"].startswith(f"{frame_type}: ")


def test_very_long_unknown_type_is_cut_in_the_message() -> None:
    err = expect_error(ready(), {"type": "x" * 5000}, "bad_frame")
    assert len(err["message"]) < 300


# -- missing fields --------------------------------------------------------------------------

REQUIRED = {
    "start": ("topic", "language"),
    "message": ("conversation_id", "client_id", "text"),
    "typing": ("conversation_id", "active"),
    "read": ("conversation_id", "seq"),
    "resume": ("conversation_id", "last_seq"),
    "close": ("conversation_id",),
    "rate": ("conversation_id", "score"),
    "leave_message": ("topic", "language", "text", "email"),
    "status": ("status",),
    "accept": ("offer_id",),
    "decline": ("offer_id",),
    "transfer": ("conversation_id",),
    "note": ("conversation_id", "text"),
    "tag": ("conversation_id", "tags"),
}


@pytest.mark.parametrize(
    ("frame_type", "field"), [(t, f) for t, fields in REQUIRED.items() for f in fields]
)
def test_missing_field(frame_type: str, field: str) -> None:
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: ...}),
        "bad_frame",
        ref=REF,
        contains=(f"missing field {field!r}",),
    )


@pytest.mark.parametrize(
    ("frame_type", "field"), [(t, f) for t, fields in REQUIRED.items() for f in fields]
)
def test_null_required_field(frame_type: str, field: str) -> None:
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: None}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "got null"),
    )


# -- wrongly typed fields --------------------------------------------------------------------

ID_FIELDS = [
    ("message", "conversation_id"),
    ("message", "client_id"),
    ("typing", "conversation_id"),
    ("read", "conversation_id"),
    ("resume", "conversation_id"),
    ("close", "conversation_id"),
    ("rate", "conversation_id"),
    ("accept", "offer_id"),
    ("decline", "offer_id"),
    ("transfer", "conversation_id"),
    ("note", "conversation_id"),
    ("tag", "conversation_id"),
    ("transfer", "to_agent"),
    ("leave_message", "conversation_id"),
]
BAD_IDS = [1, 0, 1.5, True, False, "", "x" * 65, [], {}, ["c1"]]


@pytest.mark.parametrize(("frame_type", "field"), ID_FIELDS)
@pytest.mark.parametrize("value", BAD_IDS)
def test_bad_identifier(frame_type: str, field: str, value: Any) -> None:
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: value}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "non-empty string of at most 64 characters"),
    )


def test_identifier_of_64_characters_is_fine() -> None:
    res = feed(ready(), valid("close", conversation_id="c" * 64))
    assert len(res.commands) == 1


TEXT_FIELDS = [("message", "text"), ("note", "text"), ("leave_message", "text")]


@pytest.mark.parametrize(("frame_type", "field"), TEXT_FIELDS)
@pytest.mark.parametrize("value", [1, True, [], {}, ["hi"]])
def test_text_of_wrong_type(frame_type: str, field: str, value: Any) -> None:
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: value}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "must be a non-empty string"),
    )


@pytest.mark.parametrize(("frame_type", "field"), TEXT_FIELDS)
@pytest.mark.parametrize("value", ["", " ", "   \n\t  ", "\u3000"])
def test_empty_or_whitespace_text(frame_type: str, field: str, value: str) -> None:
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: value}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "empty"),
    )


@pytest.mark.parametrize(
    ("frame_type", "field"), [*TEXT_FIELDS, ("start", "name"), ("handoff", "conversation_id")]
)
def test_a_nul_character_is_refused(frame_type: str, field: str) -> None:
    """No store keeps U+0000 (PostgreSQL's text and jsonb refuse it): refused at the door."""
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: "a\x00b"}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "NUL"),
    )


TOO_LARGE_FIELDS = [*TEXT_FIELDS, ("start", "text"), ("rate", "comment")]


@pytest.mark.parametrize(("frame_type", "field"), TOO_LARGE_FIELDS)
def test_too_long_text_is_too_large(frame_type: str, field: str) -> None:
    expect_error(
        ready(role_for(frame_type)),
        valid(frame_type, **{field: "x" * 4001}),
        "too_large",
        ref=REF,
        contains=(repr(field), "4001", "4000"),
    )


def test_too_large_follows_the_configured_limit() -> None:
    conn = ready(limits=Limits(max_text_chars=10))
    expect_error(conn, valid("message", text="x" * 11), "too_large", ref=REF)
    assert len(feed(conn, valid("message", text="x" * 10)).commands) == 1


@pytest.mark.parametrize(("frame_type", "field"), [("start", "text"), ("rate", "comment")])
@pytest.mark.parametrize("value", [1, True, [], {}])
def test_optional_text_of_wrong_type(frame_type: str, field: str, value: Any) -> None:
    expect_error(
        ready(), valid(frame_type, **{field: value}), "bad_frame", ref=REF, contains=(repr(field),)
    )


@pytest.mark.parametrize("value", ["true", "false", 1, 0, [], {}])
def test_typing_active_must_be_a_boolean(value: Any) -> None:
    expect_error(
        ready(),
        valid("typing", active=value),
        "bad_frame",
        ref=REF,
        contains=("'active' must be true or false",),
    )


SEQ_FIELDS = [("read", "seq"), ("resume", "last_seq")]


@pytest.mark.parametrize(("frame_type", "field"), SEQ_FIELDS)
@pytest.mark.parametrize("value", [True, False, "5", "0", 1.5, 2.0, -1, -100, 2**53, [], {}])
def test_bad_seq(frame_type: str, field: str, value: Any) -> None:
    expect_error(
        ready(),
        valid(frame_type, **{field: value}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "an integer from 0"),
    )


@pytest.mark.parametrize("value", [0, 6, -1, 100, 3.5, 5.0, "5", True, False, [], {}])
def test_bad_score(value: Any) -> None:
    expect_error(
        ready(),
        valid("rate", score=value),
        "bad_frame",
        ref=REF,
        contains=("'score' must be an integer from 1 to 5",),
    )


def test_bool_is_not_an_integer_message() -> None:
    err = expect_error(ready(), valid("rate", score=True), "bad_frame", ref=REF)
    assert "got a boolean" in err["message"]


@pytest.mark.parametrize("value", ["busy", "ONLINE", "", "offline", 1, True, [], {}])
def test_unknown_status(value: Any) -> None:
    expect_error(
        ready("agent"),
        valid("status", status=value),
        "bad_frame",
        ref=REF,
        contains=("'status' must be one of: online, away",),
    )


@pytest.mark.parametrize(
    "targets",
    [
        {"to_agent": "bob", "to_topic": "billing"},
        {"to_agent": ...},
        {"to_agent": None, "to_topic": None},
        {"to_agent": ..., "to_topic": None},
    ],
)
def test_transfer_needs_exactly_one_target(targets: dict[str, Any]) -> None:
    expect_error(
        ready("agent"),
        valid("transfer", **targets),
        "bad_frame",
        ref=REF,
        contains=("exactly one of 'to_agent'", "'to_topic'"),
    )


def test_transfer_to_an_unknown_topic_names_the_allowed_ones() -> None:
    expect_error(
        ready("agent"),
        valid("transfer", to_agent=..., to_topic="sales"),
        "bad_frame",
        ref=REF,
        contains=("unknown to_topic 'sales'", ALLOWED_TOPICS),
    )


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [
        ([], "got 0 tags"),
        (["t"] * 21, "got 21 tags"),
        ("refund", "got a string"),
        ({"refund": True}, "got an object"),
        ([""], "'tags'[0]"),
        (["ok", "   "], "'tags'[1]"),
        (["ok", 1], "'tags'[1] must be a string, got an integer"),
        ([None], "'tags'[0] must be a string, got null"),
        ([["nested"]], "'tags'[0] must be a string, got an array"),
        (["x" * 41], "at most 40 characters"),
    ],
)
def test_bad_tags(tags: Any, fragment: str) -> None:
    expect_error(
        ready("agent"), valid("tag", tags=tags), "bad_frame", ref=REF, contains=(fragment,)
    )


def test_empty_tags_without_remove_says_what_would_allow_it() -> None:
    for remove in (..., None):
        expect_error(
            ready("agent"),
            valid("tag", tags=[], remove=remove),
            "bad_frame",
            ref=REF,
            contains=("got 0 tags", "only when 'remove' names tags to remove"),
        )


@pytest.mark.parametrize(
    ("remove", "fragment"),
    [
        ([], "'remove' must be an array of 1 to 20"),
        ([f"t{i}" for i in range(21)], "got 21 tags"),
        ("refund", "'remove' must be an array of 1 to 20 non-empty strings"),
        ({"refund": True}, "got an object"),
        (True, "got a boolean"),
        ([""], "'remove'[0]"),
        (["ok", "  "], "'remove'[1]"),
        (["ok", 7], "'remove'[1] must be a string, got an integer"),
        ([None], "'remove'[0] must be a string, got null"),
        ([["nested"]], "'remove'[0] must be a string, got an array"),
        (["x" * 41], "at most 40 characters"),
    ],
)
@pytest.mark.parametrize("tags", [[], ["vip"]])
def test_bad_remove(remove: Any, fragment: str, tags: list[str]) -> None:
    expect_error(
        ready("agent"),
        valid("tag", tags=tags, remove=remove),
        "bad_frame",
        ref=REF,
        contains=("tag: ", fragment),
    )


def test_a_tag_cannot_be_added_and_removed_at_once() -> None:
    expect_error(
        ready("agent"),
        valid("tag", tags=["vip", "Refund"], remove=["refund "]),
        "bad_frame",
        ref=REF,
        contains=("'refund' is in both 'tags' and 'remove'",),
    )


def test_remove_is_not_a_visitor_field_and_typos_are_rejected() -> None:
    expect_error(
        ready("agent"),
        valid("tag", removed=["vip"]),
        "bad_frame",
        ref=REF,
        contains=("unknown field 'removed'", "allowed: conversation_id, tags, remove, ref"),
    )


def test_tags_at_the_limits_are_fine() -> None:
    tags = [f"t{i}" for i in range(19)] + ["x" * 40]
    assert len(feed(ready("agent"), valid("tag", tags=tags)).commands) == 1


@pytest.mark.parametrize("frame_type", ["start", "leave_message"])
@pytest.mark.parametrize(
    "email",
    [
        "no-at-sign",
        "a@b",
        "a b@c.de",
        "a@b c.de",
        "a@@b.cd",
        "a@b@c.de",
        "@b.cd",
        "a@.bc",
        "a@bc.",
        "a@b..cd",
        "x" * 250 + "@b.cd",
        5,
        True,
        [],
        {},
    ],
)
def test_bad_email(frame_type: str, email: Any) -> None:
    expect_error(
        ready(),
        valid(frame_type, email=email),
        "bad_frame",
        ref=REF,
        contains=("'email' must be an e-mail address",),
    )


@pytest.mark.parametrize("email", ["", "  "])
def test_leave_message_needs_an_email(email: str) -> None:
    expect_error(
        ready(), valid("leave_message", email=email), "bad_frame", ref=REF, contains=("'email'",)
    )


@pytest.mark.parametrize("frame_type", ["start", "leave_message"])
@pytest.mark.parametrize("name", ["n" * 101, 5, True, [], {}])
def test_bad_name(frame_type: str, name: Any) -> None:
    expect_error(
        ready(),
        valid(frame_type, name=name),
        "bad_frame",
        ref=REF,
        contains=("'name' must be a string of at most 100 characters",),
    )


def test_name_of_100_characters_is_fine() -> None:
    assert len(feed(ready(), valid("start", name="n" * 100)).commands) == 1


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://x.y/", "/relative", "https://x/" + "a" * 2048, 5, []]
)
def test_bad_page_url(url: Any) -> None:
    expect_error(
        ready(), valid("start", page_url=url), "bad_frame", ref=REF, contains=("'page_url'",)
    )


@pytest.mark.parametrize("frame_type", ["start", "leave_message"])
@pytest.mark.parametrize("topic", ["sales", "", "general-ish"])
def test_unknown_topic_names_the_allowed_values(frame_type: str, topic: str) -> None:
    expect_error(
        ready(),
        valid(frame_type, topic=topic),
        "bad_frame",
        ref=REF,
        contains=(f"unknown topic {topic!r}", ALLOWED_TOPICS),
    )


@pytest.mark.parametrize("frame_type", ["start", "leave_message"])
@pytest.mark.parametrize("language", ["fr", "fr-FR", "", "-US", "english", "e"])
def test_unknown_language_names_the_allowed_values(frame_type: str, language: str) -> None:
    expect_error(
        ready(),
        valid(frame_type, language=language),
        "bad_frame",
        ref=REF,
        contains=(f"unknown language {language!r}", ALLOWED_LANGUAGES),
    )


@pytest.mark.parametrize("field", ["topic", "language"])
@pytest.mark.parametrize("value", [1, True, [], {}, ["en"]])
def test_topic_and_language_of_wrong_type(field: str, value: Any) -> None:
    expect_error(
        ready(),
        valid("start", **{field: value}),
        "bad_frame",
        ref=REF,
        contains=(repr(field), "one of"),
    )


def test_configured_lists_are_named() -> None:
    conn = ready(limits=Limits(topics=("sales",), languages=("de", "fr")))
    expect_error(
        conn, valid("start", topic="billing"), "bad_frame", ref=REF, contains=("allowed: sales",)
    )
    expect_error(
        conn,
        valid("start", topic="sales", language="en-US"),
        "bad_frame",
        ref=REF,
        contains=("allowed: de, fr",),
    )


# -- hello problems --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["visitor", "agent"])
def test_second_hello_is_a_conflict(role: Role) -> None:
    token = None if role == "visitor" else "t"
    expect_error(
        ready(role),
        {"type": "hello", "token": token, "ref": REF},
        "conflict",
        ref=REF,
        contains=("already",),
    )


@pytest.mark.parametrize(
    ("role", "frame", "fragment"),
    [
        ("visitor", {"token": 5}, "'token'"),
        ("visitor", {"token": ["t"]}, "'token'"),
        ("agent", {"token": None}, "'token'"),
        ("agent", {}, "'token'"),
        ("agent", {"token": ""}, "'token'"),
        ("agent", {"token": 1}, "'token'"),
        ("visitor", {"token": None, "site": ""}, "'site'"),
        ("visitor", {"token": None, "site": 3}, "'site'"),
        ("visitor", {"token": None, "site": "s" * 256}, "'site'"),
        ("visitor", {"token": None, "user": "x"}, "unknown field 'user'"),
    ],
)
def test_bad_hello_is_bad_frame_and_the_connection_waits(
    role: Role, frame: dict[str, Any], fragment: str
) -> None:
    from .helpers import new

    conn = new(role)
    res = feed(conn, {"type": "hello", **frame, "ref": REF})
    assert res.commands == []
    assert [(f["code"], f["ref"]) for f in res.frames] == [("bad_frame", REF)]
    assert fragment in res.frames[0]["message"]
    assert conn.state is State.AWAITING_HELLO
    assert res.close is None
    # a correct hello still works afterwards
    good = feed(conn, {"type": "hello", "token": "t"})
    assert len(good.commands) == 1


def test_connection_survives_a_long_run_of_bad_frames() -> None:
    conn = ready()
    for text in ("x", "[]", '{"type":1}', '{"type":"accept"}') * 50:
        conn.receive_text(text, 100.0)
    assert conn.state is State.READY
    assert len(conn.data_to_send()) == 200
    assert conn.close_requested() is None
    assert len(feed(conn, valid("ping")).commands) == 1
