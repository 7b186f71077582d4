"""Server events → frame text: one builder per server frame type.

Every builder returns one compact JSON object as ``str`` (orjson), ready for a WebSocket text
frame, with exactly the fields ``docs/protocol.md`` lists; the hub's code builds no frame of its
own. The ephemeral frames one side sends the other (``typing``, ``read``) travel between hub
processes as objects before they become text: :func:`typing_object` and :func:`read_object`
build them, :func:`dump` turns any built object into its text. Builders that answer a client frame
take ``ref`` and copy it when it is not ``None`` (``error`` always carries ``ref``, ``null``
when there was none). Time stamps (``ts``) are ISO 8601 UTC strings; pass the string as stored,
or epoch seconds (a float) to have it formatted by :func:`iso_ts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from chatserver.protocol.errors import ErrorCode
from chatserver.protocol.types import AgentStatus, ClosedBy, SenderRole

__all__ = [
    "AgentProfile",
    "ConversationBrief",
    "ConversationSummary",
    "ack",
    "assigned",
    "closed",
    "dump",
    "error",
    "identified",
    "iso_ts",
    "message",
    "note",
    "offer",
    "offer_withdrawn",
    "offline",
    "pong",
    "queue",
    "queued",
    "rated",
    "read",
    "read_object",
    "resumed",
    "status",
    "tagged",
    "transferred",
    "typing",
    "typing_object",
    "welcome_agent",
    "welcome_visitor",
]


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One entry of ``welcome.conversations``: what the client holds and how far it goes."""

    conversation_id: str
    status: str  # queued · offered · active · closed
    last_seq: int


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """``welcome.agent`` — the agent as the console shows it."""

    id: str
    username: str
    display_name: str
    skills: Mapping[str, int]
    capacity: int
    roles: Sequence[str] = field(default=("agent",))


@dataclass(frozen=True, slots=True)
class ConversationBrief:
    """``offer.conversation`` (and ``assigned.conversation`` for agents); ``page_url`` (the
    page the visitor started from) is carried by ``offer`` only."""

    conversation_id: str
    topic: str
    language: str
    visitor_name: str | None
    waited_s: int
    preview: str | None
    page_url: str | None = None


def iso_ts(epoch_s: float) -> str:
    """Epoch seconds → ``2024-05-01T12:00:00.123Z`` (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ts(ts: str | float) -> str:
    return ts if isinstance(ts, str) else iso_ts(ts)


def dump(frame: Mapping[str, object]) -> str:
    """A frame object (from a ``*_object`` builder, or one that crossed the bus) as its text."""
    return orjson.dumps(frame).decode()


def _with_ref(frame: dict[str, object], ref: str | None) -> str:
    if ref is not None:
        frame["ref"] = ref
    return dump(frame)


def _summaries(conversations: Iterable[ConversationSummary]) -> list[dict[str, object]]:
    return [
        {"conversation_id": c.conversation_id, "status": c.status, "last_seq": c.last_seq}
        for c in conversations
    ]


def _brief(c: ConversationBrief) -> dict[str, object]:
    return {
        "conversation_id": c.conversation_id,
        "topic": c.topic,
        "language": c.language,
        "visitor": {"name": c.visitor_name},
        "waited_s": c.waited_s,
        "preview": c.preview,
    }


# -- answers to hello ------------------------------------------------------------------------


def welcome_visitor(
    visitor_id: str,
    token: str,
    conversations: Iterable[ConversationSummary],
    *,
    ref: str | None = None,
) -> str:
    """``welcome`` for a visitor: who it is, the token to keep, its conversations."""
    return _with_ref(
        {
            "type": "welcome",
            "visitor_id": visitor_id,
            "token": token,
            "conversations": _summaries(conversations),
        },
        ref,
    )


def identified(
    verified: bool,
    user_id: str | None,
    conversations: Iterable[ConversationSummary],
    *,
    reason: str | None = None,
    ref: str | None = None,
) -> str:
    """``identified`` (an addition) — the answer to ``identify``: whether the identity is
    verified, the app's user id if so, and the conversations the visitor may now open (with a
    verified id: every conversation of that user on the site, from any device)."""
    obj: dict[str, object] = {
        "type": "identified",
        "verified": verified,
        "user_id": user_id,
        "conversations": _summaries(conversations),
    }
    if reason is not None:
        obj["reason"] = reason
    return _with_ref(obj, ref)


def welcome_agent(
    agent: AgentProfile,
    conversations: Iterable[ConversationSummary],
    *,
    status: AgentStatus = "away",
    ref: str | None = None,
) -> str:
    """``welcome`` for an agent; ``status`` (an addition) is its current status."""
    return _with_ref(
        {
            "type": "welcome",
            "agent": {
                "id": agent.id,
                "username": agent.username,
                "display_name": agent.display_name,
                "skills": dict(agent.skills),
                "capacity": agent.capacity,
                "roles": list(agent.roles),
            },
            "status": status,
            "conversations": _summaries(conversations),
        },
        ref,
    )


# -- queue and assignment ----------------------------------------------------------------------


def queued(
    conversation_id: str, position: int, eta_s: int | None, *, ref: str | None = None
) -> str:
    """``queued`` — always the first answer to ``start``."""
    return _with_ref(
        {
            "type": "queued",
            "conversation_id": conversation_id,
            "position": position,
            "eta_s": eta_s,
        },
        ref,
    )


def queue(conversation_id: str, position: int, eta_s: int | None) -> str:
    """``queue`` — the visitor's queue position changed (ephemeral, no ``seq``)."""
    return dump(
        {"type": "queue", "conversation_id": conversation_id, "position": position, "eta_s": eta_s}
    )


def offline(conversation_id: str, *, topic: str, language: str) -> str:
    """``offline`` — no agent is online for this topic; the widget offers ``leave_message``."""
    return dump(
        {
            "type": "offline",
            "conversation_id": conversation_id,
            "topic": topic,
            "language": language,
        }
    )


def assigned(
    conversation_id: str,
    agent_display_name: str,
    *,
    seq: int,
    ts: str | float,
    conversation: ConversationBrief | None = None,
    ref: str | None = None,
    bot: bool = False,
) -> str:
    """``assigned`` — an agent took the conversation (stored: carries ``seq``); with ``bot``
    a bot took it first (``agent.bot``: the widget offers "Talk to a person").

    Pass ``conversation`` for the agent's copy so the console can show topic, language and
    visitor; the visitor's copy has no ``conversation``.
    """
    frame: dict[str, object] = {
        "type": "assigned",
        "conversation_id": conversation_id,
        "agent": {"display_name": agent_display_name, "bot": True}
        if bot
        else {"display_name": agent_display_name},
        "seq": seq,
        "ts": _ts(ts),
    }
    if conversation is not None:
        frame["conversation"] = _brief(conversation)
    return _with_ref(frame, ref)


def offer(offer_id: str, conversation: ConversationBrief, expires_in_s: int) -> str:
    """``offer`` (agents) — answer with ``accept`` or ``decline`` within ``expires_in_s``.
    ``conversation.page_url`` (an addition) is the page the visitor started from, or null."""
    brief = _brief(conversation)
    brief["page_url"] = conversation.page_url
    return dump(
        {
            "type": "offer",
            "offer_id": offer_id,
            "conversation": brief,
            "expires_in_s": expires_in_s,
        }
    )


def offer_withdrawn(offer_id: str, conversation_id: str, *, reason: str | None = None) -> str:
    """``offer_withdrawn`` (agents); ``conversation_id`` and ``reason`` are additions (reason:
    declined · expired · taken · agent_away · agent_offline · cancelled, as the router says)."""
    frame: dict[str, object] = {
        "type": "offer_withdrawn",
        "offer_id": offer_id,
        "conversation_id": conversation_id,
    }
    if reason is not None:
        frame["reason"] = reason
    return dump(frame)


# -- answers ---------------------------------------------------------------------------------


def ack(
    ref: str | None = None,
    *,
    client_id: str | None = None,
    conversation_id: str | None = None,
    seq: int | None = None,
    ts: str | float | None = None,
    tags: Sequence[str] | None = None,
    status: AgentStatus | None = None,
    offer_id: str | None = None,
) -> str:
    """``ack`` — the frame was done (for stored events: committed to the transcript store).

    For a ``message``: ``client_id``, ``seq`` and ``ts``; for other stored events (close, note,
    tag, transfer, rate, leave_message): ``conversation_id`` (an addition), ``seq`` and ``ts``,
    and for ``tag`` the conversation's whole tag set ``tags`` (an addition); for ``status`` the
    status now in force, for ``decline`` the ``offer_id`` (additions); otherwise just ``ref``.
    """
    if client_id is not None and (seq is None or ts is None):
        raise ValueError("an ack for a message needs seq and ts as well as client_id")
    if (seq is None) != (ts is None):
        raise ValueError("give seq and ts together")
    frame: dict[str, object] = {"type": "ack"}
    if client_id is not None:
        frame["client_id"] = client_id
    if conversation_id is not None:
        frame["conversation_id"] = conversation_id
    if seq is not None and ts is not None:
        frame["seq"] = seq
        frame["ts"] = _ts(ts)
    if tags is not None:
        frame["tags"] = list(tags)
    if status is not None:
        frame["status"] = status
    if offer_id is not None:
        frame["offer_id"] = offer_id
    return _with_ref(frame, ref)


def error(code: ErrorCode | str, message: str, ref: str | None = None) -> str:
    """``error`` — always with ``ref`` (``null`` when the frame had none)."""
    return dump({"type": "error", "code": ErrorCode(code).value, "message": message, "ref": ref})


def pong(ref: str | None = None) -> str:
    """``pong`` — the answer to ``ping``."""
    return _with_ref({"type": "pong"}, ref)


def resumed(conversation_id: str, last_seq: int, *, ref: str | None = None) -> str:
    """``resumed`` — every stored event up to ``last_seq`` has been sent."""
    return _with_ref(
        {"type": "resumed", "conversation_id": conversation_id, "last_seq": last_seq}, ref
    )


def status(status: str, *, reason: str | None = None) -> str:
    """``status`` (agents) — the agent's own status, sent to all its connections on change:
    ``online`` · ``away``, or ``offline`` when the router took it out; ``reason`` (an
    addition) says why the router changed it by itself (e.g. ``missed offers``)."""
    frame: dict[str, object] = {"type": "status", "status": status}
    if reason is not None:
        frame["reason"] = reason
    return dump(frame)


# -- conversation events ---------------------------------------------------------------------


def message(
    conversation_id: str,
    *,
    seq: int,
    client_id: str | None,
    from_role: SenderRole,
    from_name: str | None,
    text: str,
    ts: str | float,
) -> str:
    """``message`` — stored; to every participant, the sender too."""
    return dump(
        {
            "type": "message",
            "conversation_id": conversation_id,
            "seq": seq,
            "client_id": client_id,
            "from": {"role": from_role, "name": from_name},
            "text": text,
            "ts": _ts(ts),
        }
    )


def note(
    conversation_id: str, *, seq: int, from_name: str | None, text: str, ts: str | float
) -> str:
    """``note`` (agents only) — an internal note; stored, never sent to the visitor."""
    return dump(
        {
            "type": "note",
            "conversation_id": conversation_id,
            "seq": seq,
            "from": {"role": "agent", "name": from_name},
            "text": text,
            "ts": _ts(ts),
        }
    )


def typing_object(conversation_id: str, active: bool, *, by_role: str) -> dict[str, object]:
    """``typing`` as an object, for the relay: folded, sent over the bus, then :func:`dump`."""
    return {
        "type": "typing",
        "conversation_id": conversation_id,
        "active": active,
        "by": {"role": by_role},
    }


def typing(conversation_id: str, active: bool, *, by_role: SenderRole) -> str:
    """``typing`` — relayed to the other side, ephemeral."""
    return dump(typing_object(conversation_id, active, by_role=by_role))


def read_object(conversation_id: str, seq: int, *, by_role: str) -> dict[str, object]:
    """``read`` as an object, for the relay (see :func:`typing_object`)."""
    return {"type": "read", "conversation_id": conversation_id, "seq": seq, "by": {"role": by_role}}


def read(conversation_id: str, seq: int, *, by_role: SenderRole) -> str:
    """``read`` — the other side has read up to ``seq``; relayed, ephemeral."""
    return dump(read_object(conversation_id, seq, by_role=by_role))


def closed(conversation_id: str, *, by: ClosedBy, seq: int, ts: str | float) -> str:
    """``closed`` — stored; to every participant. ``ts`` is an addition."""
    return dump(
        {"type": "closed", "conversation_id": conversation_id, "by": by, "seq": seq, "ts": _ts(ts)}
    )


def tagged(
    conversation_id: str, tags: Sequence[str], *, seq: int, ts: str | float, by_name: str | None
) -> str:
    """``tagged`` (agents only) — stored; ``tags`` is the conversation's whole tag set."""
    return dump(
        {
            "type": "tagged",
            "conversation_id": conversation_id,
            "tags": list(tags),
            "by": {"role": "agent", "name": by_name},
            "seq": seq,
            "ts": _ts(ts),
        }
    )


def transferred(
    conversation_id: str,
    *,
    seq: int,
    ts: str | float,
    by_name: str | None,
    to_agent: str | None = None,
    to_topic: str | None = None,
) -> str:
    """``transferred`` (agents only) — stored; exactly one of ``to_agent`` / ``to_topic``."""
    if (to_agent is None) == (to_topic is None):
        raise ValueError("give exactly one of to_agent or to_topic")
    return dump(
        {
            "type": "transferred",
            "conversation_id": conversation_id,
            "to_agent": to_agent,
            "to_topic": to_topic,
            "by": {"role": "agent", "name": by_name},
            "seq": seq,
            "ts": _ts(ts),
        }
    )


def rated(
    conversation_id: str, score: int, *, comment: str | None, seq: int, ts: str | float
) -> str:
    """``rated`` (agents only) — stored: the visitor rated the closed conversation."""
    return dump(
        {
            "type": "rated",
            "conversation_id": conversation_id,
            "score": score,
            "comment": comment,
            "seq": seq,
            "ts": _ts(ts),
        }
    )
