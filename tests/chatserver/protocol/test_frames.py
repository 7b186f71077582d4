"""Frame builders produce exactly the fields of PROTOCOL.md (plus the documented additions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatserver.protocol import (
    AgentProfile,
    ConversationBrief,
    ConversationSummary,
    ErrorCode,
    frames,
    iso_ts,
)

TS = "2024-05-01T12:00:00.000Z"
BRIEF = ConversationBrief("c1", "billing", "en", "Ann", 42, "my invoice")
SUMMARIES = [ConversationSummary("c1", "active", 7), ConversationSummary("c2", "closed", 12)]


def load(text: str) -> dict[str, Any]:
    assert isinstance(text, str)
    value = json.loads(text)
    assert isinstance(value, dict)
    assert json.dumps(value, separators=(",", ":"), ensure_ascii=False) == text  # compact
    return value


def test_welcome_visitor() -> None:
    frame = load(frames.welcome_visitor("v1", "tok", SUMMARIES))
    assert frame == {
        "type": "welcome",
        "visitor_id": "v1",
        "token": "tok",
        "conversations": [
            {"conversation_id": "c1", "status": "active", "last_seq": 7},
            {"conversation_id": "c2", "status": "closed", "last_seq": 12},
        ],
    }
    assert load(frames.welcome_visitor("v1", "tok", [], ref="h"))["ref"] == "h"


def test_welcome_agent() -> None:
    agent = AgentProfile("a1", "ann", "Ann", {"billing": 5, "en": 3}, 3, ("agent", "supervisor"))
    frame = load(frames.welcome_agent(agent, SUMMARIES[:1]))
    assert frame == {
        "type": "welcome",
        "agent": {
            "id": "a1",
            "username": "ann",
            "display_name": "Ann",
            "skills": {"billing": 5, "en": 3},
            "capacity": 3,
            "roles": ["agent", "supervisor"],
        },
        "status": "away",
        "conversations": [{"conversation_id": "c1", "status": "active", "last_seq": 7}],
    }
    assert load(frames.welcome_agent(agent, [], status="online"))["status"] == "online"
    assert AgentProfile("a", "u", "U", {}, 1).roles == ("agent",)


def test_queued_and_queue() -> None:
    assert load(frames.queued("c1", 3, 90)) == {
        "type": "queued",
        "conversation_id": "c1",
        "position": 3,
        "eta_s": 90,
    }
    assert load(frames.queued("c1", 1, None, ref="s")) == {
        "type": "queued",
        "conversation_id": "c1",
        "position": 1,
        "eta_s": None,
        "ref": "s",
    }
    assert load(frames.queue("c1", 2, None)) == {
        "type": "queue",
        "conversation_id": "c1",
        "position": 2,
        "eta_s": None,
    }


def test_assigned() -> None:
    visitor_copy = load(frames.assigned("c1", "Ann", seq=2, ts=TS))
    assert visitor_copy == {
        "type": "assigned",
        "conversation_id": "c1",
        "agent": {"display_name": "Ann"},
        "seq": 2,
        "ts": TS,
    }
    agent_copy = load(frames.assigned("c1", "Ann", seq=2, ts=TS, conversation=BRIEF, ref="a"))
    assert agent_copy == {
        **visitor_copy,
        "ref": "a",
        "conversation": {
            "conversation_id": "c1",
            "topic": "billing",
            "language": "en",
            "visitor": {"name": "Ann"},
            "waited_s": 42,
            "preview": "my invoice",
        },
    }


def test_offline() -> None:
    assert load(frames.offline("c1", topic="billing", language="en")) == {
        "type": "offline",
        "conversation_id": "c1",
        "topic": "billing",
        "language": "en",
    }


def test_offer_and_withdrawn() -> None:
    assert load(
        frames.offer("o1", ConversationBrief("c1", "general", "es", None, 0, None), 20)
    ) == {
        "type": "offer",
        "offer_id": "o1",
        "conversation": {
            "conversation_id": "c1",
            "topic": "general",
            "language": "es",
            "visitor": {"name": None},
            "waited_s": 0,
            "preview": None,
            "page_url": None,
        },
        "expires_in_s": 20,
    }
    with_page = ConversationBrief("c1", "general", "es", "Ann", 3, "hi", "https://shop/x")
    assert load(frames.offer("o2", with_page, 5))["conversation"]["page_url"] == "https://shop/x"
    assert load(frames.offer_withdrawn("o1", "c1")) == {
        "type": "offer_withdrawn",
        "offer_id": "o1",
        "conversation_id": "c1",
    }
    assert load(frames.offer_withdrawn("o1", "c1", reason="expired")) == {
        "type": "offer_withdrawn",
        "offer_id": "o1",
        "conversation_id": "c1",
        "reason": "expired",
    }


def test_assigned_carries_no_page_url() -> None:
    brief = ConversationBrief("c1", "general", "es", None, 0, None, "https://shop/x")
    frame = load(frames.assigned("c1", "Ann", seq=2, ts=TS, conversation=brief))
    assert "page_url" not in frame["conversation"]


def test_ack() -> None:
    assert load(frames.ack("r1", client_id="u1", seq=5, ts=TS)) == {
        "type": "ack",
        "client_id": "u1",
        "seq": 5,
        "ts": TS,
        "ref": "r1",
    }
    assert load(frames.ack(client_id="u1", seq=5, ts=TS)) == {
        "type": "ack",
        "client_id": "u1",
        "seq": 5,
        "ts": TS,
    }
    assert load(frames.ack("n", seq=6, ts=TS)) == {"type": "ack", "seq": 6, "ts": TS, "ref": "n"}
    assert load(frames.ack("s")) == {"type": "ack", "ref": "s"}
    assert load(frames.ack()) == {"type": "ack"}


def test_ack_additions() -> None:
    """What the hub's acks carry beyond the message ack, in the order the wire has them."""
    closed = frames.ack("c", conversation_id="c1", seq=6, ts=TS)
    assert closed == (
        '{"type":"ack","conversation_id":"c1","seq":6,"ts":"2024-05-01T12:00:00.000Z","ref":"c"}'
    )
    tagged = load(frames.ack(None, conversation_id="c1", seq=7, ts=TS, tags=("a", "b")))
    assert list(tagged) == ["type", "conversation_id", "seq", "ts", "tags"]
    assert tagged["tags"] == ["a", "b"]
    assert load(frames.ack("s", status="online")) == {
        "type": "ack",
        "status": "online",
        "ref": "s",
    }
    assert load(frames.ack("d", offer_id="o1")) == {"type": "ack", "offer_id": "o1", "ref": "d"}


@pytest.mark.parametrize(
    "kwargs", [{"client_id": "u"}, {"client_id": "u", "seq": 1}, {"seq": 1}, {"ts": TS}]
)
def test_ack_refuses_half_a_message_ack(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        frames.ack(**kwargs)


def test_message() -> None:
    frame = load(
        frames.message(
            "c1",
            seq=3,
            client_id="u1",
            from_role="visitor",
            from_name=None,
            text='hi "there" <b>',
            ts=TS,
        )
    )
    assert frame == {
        "type": "message",
        "conversation_id": "c1",
        "seq": 3,
        "client_id": "u1",
        "from": {"role": "visitor", "name": None},
        "text": 'hi "there" <b>',
        "ts": TS,
    }
    system = load(
        frames.message(
            "c1",
            seq=4,
            client_id=None,
            from_role="system",
            from_name="Hub",
            text="Ann joined",
            ts=TS,
        )
    )
    assert system["client_id"] is None and system["from"] == {"role": "system", "name": "Hub"}


def test_typing_and_read() -> None:
    assert load(frames.typing("c1", True, by_role="agent")) == {
        "type": "typing",
        "conversation_id": "c1",
        "active": True,
        "by": {"role": "agent"},
    }
    assert load(frames.read("c1", 9, by_role="visitor")) == {
        "type": "read",
        "conversation_id": "c1",
        "seq": 9,
        "by": {"role": "visitor"},
    }


def test_relayed_objects_dump_to_the_frames() -> None:
    typing = frames.typing_object("c1", False, by_role="visitor")
    assert frames.dump(typing) == frames.typing("c1", False, by_role="visitor")
    read = frames.read_object("c1", 3, by_role="agent")
    assert frames.dump(read) == frames.read("c1", 3, by_role="agent")


def test_resumed() -> None:
    assert load(frames.resumed("c1", 12)) == {
        "type": "resumed",
        "conversation_id": "c1",
        "last_seq": 12,
    }
    assert load(frames.resumed("c1", 0, ref="z"))["ref"] == "z"


def test_closed() -> None:
    assert load(frames.closed("c1", by="visitor", seq=8, ts=TS)) == {
        "type": "closed",
        "conversation_id": "c1",
        "by": "visitor",
        "seq": 8,
        "ts": TS,
    }


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error(code: ErrorCode) -> None:
    assert load(frames.error(code, "why", "r")) == {
        "type": "error",
        "code": code.value,
        "message": "why",
        "ref": "r",
    }
    assert load(frames.error(code.value, "why")) == {
        "type": "error",
        "code": code.value,
        "message": "why",
        "ref": None,
    }


def test_error_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError):
        frames.error("teapot", "no")


def test_pong_and_status() -> None:
    assert load(frames.pong()) == {"type": "pong"}
    assert load(frames.pong("p")) == {"type": "pong", "ref": "p"}
    assert load(frames.status("online")) == {"type": "status", "status": "online"}
    assert load(frames.status("away")) == {"type": "status", "status": "away"}
    assert load(frames.status("away", reason="missed offers")) == {
        "type": "status",
        "status": "away",
        "reason": "missed offers",
    }


def test_note_tagged_transferred_rated() -> None:
    assert load(frames.note("c1", seq=4, from_name="Ann", text="VIP", ts=TS)) == {
        "type": "note",
        "conversation_id": "c1",
        "seq": 4,
        "from": {"role": "agent", "name": "Ann"},
        "text": "VIP",
        "ts": TS,
    }
    assert load(frames.tagged("c1", ("refund", "vip"), seq=5, ts=TS, by_name="Ann")) == {
        "type": "tagged",
        "conversation_id": "c1",
        "tags": ["refund", "vip"],
        "by": {"role": "agent", "name": "Ann"},
        "seq": 5,
        "ts": TS,
    }
    assert load(frames.transferred("c1", seq=6, ts=TS, by_name="Ann", to_topic="billing")) == {
        "type": "transferred",
        "conversation_id": "c1",
        "to_agent": None,
        "to_topic": "billing",
        "by": {"role": "agent", "name": "Ann"},
        "seq": 6,
        "ts": TS,
    }
    assert (
        load(frames.transferred("c1", seq=6, ts=TS, by_name=None, to_agent="bob"))["to_agent"]
        == "bob"
    )
    assert load(frames.rated("c1", 4, comment=None, seq=9, ts=TS)) == {
        "type": "rated",
        "conversation_id": "c1",
        "score": 4,
        "comment": None,
        "seq": 9,
        "ts": TS,
    }
    assert load(frames.rated("c1", 5, comment="ok", seq=9, ts=TS))["comment"] == "ok"


@pytest.mark.parametrize("targets", [{}, {"to_agent": "b", "to_topic": "billing"}])
def test_transferred_needs_exactly_one_target(targets: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        frames.transferred("c1", seq=1, ts=TS, by_name=None, **targets)


def test_timestamps() -> None:
    assert iso_ts(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ts(1714564800.5) == "2024-05-01T12:00:00.500Z"
    assert load(frames.closed("c", by="system", seq=1, ts=1714564800.0))["ts"] == TS


def test_text_round_trips_unicode_and_markup_exactly() -> None:
    text = '</script><img onerror=x> \u2028 😀 \\ " \n'
    frame = load(
        frames.message(
            "c", seq=1, client_id="u", from_role="agent", from_name="A", text=text, ts=TS
        )
    )
    assert frame["text"] == text


def test_every_server_frame_type_has_a_builder() -> None:
    built = {
        load(text)["type"]
        for text in (
            frames.welcome_visitor("v", "t", []),
            frames.queued("c", 1, None),
            frames.queue("c", 1, None),
            frames.assigned("c", "A", seq=1, ts=TS),
            frames.offline("c", topic="t", language="l"),
            frames.offer("o", BRIEF, 1),
            frames.offer_withdrawn("o", "c"),
            frames.ack(),
            frames.message(
                "c", seq=1, client_id=None, from_role="system", from_name=None, text="t", ts=TS
            ),
            frames.typing("c", False, by_role="visitor"),
            frames.read("c", 1, by_role="agent"),
            frames.resumed("c", 1),
            frames.closed("c", by="agent", seq=1, ts=TS),
            frames.error("internal", "x"),
            frames.pong(),
            frames.note("c", seq=1, from_name=None, text="t", ts=TS),
            frames.tagged("c", ["a"], seq=1, ts=TS, by_name=None),
            frames.transferred("c", seq=1, ts=TS, by_name=None, to_agent="b"),
            frames.status("away"),
            frames.rated("c", 1, comment=None, seq=1, ts=TS),
            frames.identified(False, None, []),
        )
    }
    assert built == {
        "identified",
        "welcome",
        "queued",
        "queue",
        "assigned",
        "offline",
        "offer",
        "offer_withdrawn",
        "ack",
        "message",
        "typing",
        "read",
        "resumed",
        "closed",
        "error",
        "pong",
        "note",
        "tagged",
        "transferred",
        "status",
        "rated",
    }
