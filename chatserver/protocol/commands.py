"""Typed commands: one frozen dataclass per client frame type.

:class:`~chatserver.protocol.connection.ProtocolConnection` turns each valid client frame into
one of these, already validated and normalised (text stripped, language reduced to a configured
code, tags lowercased); layers above never see raw JSON. Every command carries the frame's
``ref`` (``None`` when the frame had none) so the answer can copy it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from chatserver.protocol.types import AgentStatus, Role

__all__ = [
    "AGENT_TYPES",
    "COMMAND_CLASSES",
    "TYPES_BY_ROLE",
    "VISITOR_TYPES",
    "Accept",
    "Close",
    "Command",
    "Decline",
    "Handoff",
    "Hello",
    "Identify",
    "LeaveMessage",
    "Message",
    "Note",
    "Ping",
    "Rate",
    "Read",
    "Resume",
    "Start",
    "Status",
    "Tag",
    "Transfer",
    "Typing",
]


@dataclass(frozen=True, slots=True)
class Hello:
    """``hello`` — first frame. ``token`` is ``None`` for a new visitor; ``site`` defaults."""

    TYPE: ClassVar[str] = "hello"
    token: str | None
    site: str | None = None
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Start:
    """``start`` (visitor) — open a conversation. ``language`` is a configured code."""

    TYPE: ClassVar[str] = "start"
    topic: str
    language: str
    name: str | None = None
    email: str | None = None
    text: str | None = None
    page_url: str | None = None
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Message:
    """``message`` — a chat line; ``client_id`` makes retries idempotent."""

    TYPE: ClassVar[str] = "message"
    conversation_id: str
    client_id: str
    text: str
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Typing:
    """``typing`` — relayed to the other side, never stored."""

    TYPE: ClassVar[str] = "typing"
    conversation_id: str
    active: bool
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Read:
    """``read`` — the sender has read everything up to ``seq``; relayed, not stored."""

    TYPE: ClassVar[str] = "read"
    conversation_id: str
    seq: int
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Resume:
    """``resume`` — send every stored event with ``seq > last_seq``, then ``resumed``."""

    TYPE: ClassVar[str] = "resume"
    conversation_id: str
    last_seq: int
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Close:
    """``close`` — end the conversation."""

    TYPE: ClassVar[str] = "close"
    conversation_id: str
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Rate:
    """``rate`` (visitor) — 1..5 once the conversation is closed, once per conversation."""

    TYPE: ClassVar[str] = "rate"
    conversation_id: str
    score: int
    comment: str | None = None
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class LeaveMessage:
    """``leave_message`` (visitor, an addition) — the offline form when no agent is online.

    ``conversation_id`` (optional) names the conversation that got ``offline``, so the hub can
    attach the message to it and close it.
    """

    TYPE: ClassVar[str] = "leave_message"
    topic: str
    language: str
    text: str
    email: str
    name: str | None = None
    conversation_id: str | None = None
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Handoff:
    """``handoff`` (visitor, an addition) — "Talk to a person": the bot that holds the
    conversation hands it to the agents' queue (docs/bots.md)."""

    TYPE: ClassVar[str] = "handoff"
    conversation_id: str
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Identify:
    """``identify`` (visitor, an addition) — who the host app says the visitor is: a
    ``user_id`` with its ``user_hash`` (hex HMAC-SHA256 under the site's secret), or a signed
    ``token``; ``name``/``email`` are display only. Verified by `chatserver.core.identity`."""

    TYPE: ClassVar[str] = "identify"
    user_id: str | None = None
    user_hash: str | None = None
    token: str | None = None
    name: str | None = None
    email: str | None = None
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Ping:
    """``ping`` (an addition) — keepalive; the adapter answers with ``frames.pong(ref)``."""

    TYPE: ClassVar[str] = "ping"
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Status:
    """``status`` (agent) — ``online`` to receive offers, ``away`` to stop."""

    TYPE: ClassVar[str] = "status"
    status: AgentStatus
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Accept:
    """``accept`` (agent) — take an offer."""

    TYPE: ClassVar[str] = "accept"
    offer_id: str
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Decline:
    """``decline`` (agent) — refuse an offer; it is routed elsewhere."""

    TYPE: ClassVar[str] = "decline"
    offer_id: str
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Transfer:
    """``transfer`` (agent) — exactly one of ``to_agent`` (a username) or ``to_topic``."""

    TYPE: ClassVar[str] = "transfer"
    conversation_id: str
    to_agent: str | None = None
    to_topic: str | None = None
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Note:
    """``note`` (agent) — internal: stored, never sent to the visitor."""

    TYPE: ClassVar[str] = "note"
    conversation_id: str
    text: str
    ref: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Tag:
    """``tag`` (agent) — add ``tags`` and take away ``remove`` (an addition to v1); both
    lowercased, stripped, duplicates removed, order kept. ``tags`` is empty only when
    ``remove`` is not, and no tag is in both."""

    TYPE: ClassVar[str] = "tag"
    conversation_id: str
    tags: tuple[str, ...]
    remove: tuple[str, ...] = field(default=(), kw_only=True)
    ref: str | None = field(default=None, kw_only=True)


#: Any command :class:`ProtocolConnection` may produce.
Command: TypeAlias = (
    Hello
    | Start
    | Message
    | Typing
    | Read
    | Resume
    | Close
    | Rate
    | LeaveMessage
    | Identify
    | Handoff
    | Ping
    | Status
    | Accept
    | Decline
    | Transfer
    | Note
    | Tag
)

#: The command class for each frame ``type``.
COMMAND_CLASSES: dict[str, type[Command]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Start,
        Message,
        Typing,
        Read,
        Resume,
        Close,
        Rate,
        LeaveMessage,
        Identify,
        Handoff,
        Ping,
        Status,
        Accept,
        Decline,
        Transfer,
        Note,
        Tag,
    )
}

#: Frame types a visitor connection may send, in the order the docs list them.
VISITOR_TYPES: tuple[str, ...] = (
    "hello",
    "start",
    "message",
    "typing",
    "read",
    "resume",
    "close",
    "rate",
    "leave_message",
    "identify",
    "handoff",
    "ping",
)

#: Frame types an agent connection may send, in the order the docs list them.
AGENT_TYPES: tuple[str, ...] = (
    "hello",
    "status",
    "accept",
    "decline",
    "message",
    "typing",
    "read",
    "resume",
    "close",
    "transfer",
    "note",
    "tag",
    "ping",
)

TYPES_BY_ROLE: dict[Role, tuple[str, ...]] = {"visitor": VISITOR_TYPES, "agent": AGENT_TYPES}
