"""Frame text → validated :mod:`~chatserver.protocol.commands`; every failure a ProtocolError.

Private: :class:`~chatserver.protocol.connection.ProtocolConnection` is the public way in. The
steps are split (decode, ref, type, fields) so the connection can apply its state and rate
rules between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import orjson

from chatserver.protocol._reader import (
    MAX_REF_CHARS,
    MAX_SAFE_INT,
    MAX_SITE_CHARS,
    MISSING,
    _Reader,
    describe,
    quote,
)
from chatserver.protocol.commands import (
    Accept,
    Close,
    Command,
    Decline,
    Handoff,
    Hello,
    Identify,
    LeaveMessage,
    Message,
    Note,
    Ping,
    Rate,
    Read,
    Resume,
    Start,
    Status,
    Tag,
    Transfer,
    Typing,
)
from chatserver.protocol.errors import BadFrame
from chatserver.protocol.limits import Limits
from chatserver.protocol.types import Role


def decode(data: str | bytes) -> dict[str, object]:
    """Parse one frame's text into a JSON object, or raise :class:`BadFrame`."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadFrame(f"frame is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadFrame(f"frame must be a JSON object, got {describe(value)}")
    return value


def read_ref(obj: dict[str, object]) -> str | None:
    """The frame's ``ref``: absent or ``null`` → ``None``; anything but a short string → error."""
    ref = obj.get("ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or len(ref) > MAX_REF_CHARS:
        raise BadFrame(
            f"'ref' must be a string of at most {MAX_REF_CHARS} characters, got {describe(ref)}"
        )
    return ref


def read_type(obj: dict[str, object], ref: str | None) -> str:
    """The frame's ``type``, which must be a string (whether it is known is checked later)."""
    if "type" not in obj:
        raise BadFrame("missing field 'type' (a string naming the frame type)", ref)
    frame_type = obj["type"]
    if not isinstance(frame_type, str):
        raise BadFrame(f"'type' must be a string, got {describe(frame_type)}", ref)
    return frame_type


def check_role(frame_type: str, role: Role, allowed: tuple[str, ...], ref: str | None) -> None:
    """Unknown types and types of the other role are both "unknown" for this connection."""
    if frame_type not in allowed:
        raise BadFrame(
            f"unknown type {quote(frame_type)} for {'an' if role == 'agent' else 'a'} {role} "
            f"connection; expected one of: {', '.join(allowed)}",
            ref,
        )


def _hello(r: _Reader, role: Role) -> Hello:
    token = r.obj.get("token")
    if role == "agent":
        if not isinstance(token, str) or not token:
            got = "nothing" if "token" not in r.obj else describe(token)
            r.fail(f"'token' must be the non-empty string from /api/v1/auth/login, got {got}")
    elif token is not None and not isinstance(token, str):
        r.fail(f"'token' must be null or the string from an earlier welcome, got {describe(token)}")
    site = r.obj.get("site")
    if site is not None and (not isinstance(site, str) or not site or len(site) > MAX_SITE_CHARS):
        r.fail(
            f"'site' must be a non-empty string of at most {MAX_SITE_CHARS} characters, "
            f"got {describe(site)}"
        )
    assert token is None or isinstance(token, str)
    assert site is None or isinstance(site, str)
    return Hello(token, site, ref=r.ref)


def _start(r: _Reader) -> Start:
    return Start(
        topic=r.req_topic(),
        language=r.language(),
        name=r.short_string("name", r.limits.max_name_chars),
        email=r.email(required=False),
        text=r.text("text", required=False),
        page_url=r.page_url(),
        ref=r.ref,
    )


def _message(r: _Reader) -> Message:
    return Message(
        r.req_identifier("conversation_id"),
        r.req_identifier("client_id"),
        r.req_text("text"),
        ref=r.ref,
    )


def _typing(r: _Reader) -> Typing:
    return Typing(r.req_identifier("conversation_id"), r.boolean("active"), ref=r.ref)


def _read(r: _Reader) -> Read:
    return Read(r.req_identifier("conversation_id"), r.integer("seq", 0, MAX_SAFE_INT), ref=r.ref)


def _resume(r: _Reader) -> Resume:
    return Resume(
        r.req_identifier("conversation_id"), r.integer("last_seq", 0, MAX_SAFE_INT), ref=r.ref
    )


def _close(r: _Reader) -> Close:
    return Close(r.req_identifier("conversation_id"), ref=r.ref)


def _handoff(r: _Reader) -> Handoff:
    return Handoff(r.req_identifier("conversation_id"), ref=r.ref)


def _rate(r: _Reader) -> Rate:
    return Rate(
        r.req_identifier("conversation_id"),
        r.integer("score", 1, 5),
        r.text("comment", required=False),
        ref=r.ref,
    )


def _leave_message(r: _Reader) -> LeaveMessage:
    email = r.email(required=True)
    assert email is not None
    return LeaveMessage(
        topic=r.req_topic(),
        language=r.language(),
        text=r.req_text("text"),
        email=email,
        name=r.short_string("name", r.limits.max_name_chars),
        conversation_id=r.identifier("conversation_id", required=False),
        ref=r.ref,
    )


#: The longest ``user_id``, ``user_hash`` and ``token`` an ``identify`` may carry (characters).
MAX_USER_ID_CHARS: Final = 256
MAX_USER_HASH_CHARS: Final = 128
MAX_IDENTITY_TOKEN_CHARS: Final = 4096


def _exact_string(r: _Reader, name: str, max_chars: int) -> str | None:
    """An optional non-empty string taken as it is (a user id is hashed byte for byte)."""
    value = r.obj.get(name)
    if value is not None and (not isinstance(value, str) or not value or len(value) > max_chars):
        r.fail(
            f"{name!r} must be a non-empty string of at most {max_chars} characters, "
            f"got {describe(value)}"
        )
    assert value is None or isinstance(value, str)
    return value


def _identify(r: _Reader) -> Identify:
    user_id = _exact_string(r, "user_id", MAX_USER_ID_CHARS)
    user_hash = _exact_string(r, "user_hash", MAX_USER_HASH_CHARS)
    token = _exact_string(r, "token", MAX_IDENTITY_TOKEN_CHARS)
    if token is not None and (user_id is not None or user_hash is not None):
        r.fail("give either 'token' or 'user_id' with 'user_hash', not both")
    if user_hash is not None and user_id is None:
        r.fail("'user_hash' needs the 'user_id' it was computed from")
    if token is None and user_id is None:
        r.fail("missing 'user_id' (with its 'user_hash') or 'token'")
    return Identify(
        user_id=user_id,
        user_hash=user_hash,
        token=token,
        name=r.short_string("name", r.limits.max_name_chars),
        email=r.email(required=False),
        ref=r.ref,
    )


def _ping(r: _Reader) -> Ping:
    return Ping(ref=r.ref)


def _status(r: _Reader) -> Status:
    value = r.obj.get("status", MISSING)
    if value is MISSING:
        r.fail("missing field 'status' (expected one of: online, away)")
    if value == "online":
        return Status("online", ref=r.ref)
    if value == "away":
        return Status("away", ref=r.ref)
    got = quote(value) if isinstance(value, str) else describe(value)
    r.fail(f"'status' must be one of: online, away; got {got}")


def _accept(r: _Reader) -> Accept:
    return Accept(r.req_identifier("offer_id"), ref=r.ref)


def _decline(r: _Reader) -> Decline:
    return Decline(r.req_identifier("offer_id"), ref=r.ref)


def _transfer(r: _Reader) -> Transfer:
    conversation_id = r.req_identifier("conversation_id")
    to_agent = r.identifier("to_agent", required=False)
    to_topic = r.topic("to_topic", required=False)
    if (to_agent is None) == (to_topic is None):
        r.fail("give exactly one of 'to_agent' (a username) or 'to_topic' (a topic)")
    return Transfer(conversation_id, to_agent, to_topic, ref=r.ref)


def _note(r: _Reader) -> Note:
    return Note(r.req_identifier("conversation_id"), r.req_text("text"), ref=r.ref)


def _tag(r: _Reader) -> Tag:
    """``tags`` adds, the optional ``remove`` (an addition) removes; ``tags`` may be empty only
    when something is removed, and no tag may be in both."""
    conversation_id = r.req_identifier("conversation_id")
    remove = r.tag_list("remove", required=False, min_count=1)
    tags = r.tag_list(
        "tags",
        required=True,
        min_count=0 if remove else 1,
        hint="" if remove else " (it may be empty only when 'remove' names tags to remove)",
    )
    both = [t for t in tags if t in remove]
    if both:
        r.fail(f"tag {quote(both[0])} is in both 'tags' and 'remove'; add or remove it, not both")
    return Tag(conversation_id, tags, remove=remove, ref=r.ref)


_PARSERS: Final[dict[str, Callable[[_Reader], Command]]] = {
    "start": _start,
    "message": _message,
    "typing": _typing,
    "read": _read,
    "resume": _resume,
    "close": _close,
    "rate": _rate,
    "leave_message": _leave_message,
    "identify": _identify,
    "handoff": _handoff,
    "ping": _ping,
    "status": _status,
    "accept": _accept,
    "decline": _decline,
    "transfer": _transfer,
    "note": _note,
    "tag": _tag,
}


def parse_fields(
    frame_type: str, obj: dict[str, object], ref: str | None, role: Role, limits: Limits
) -> Command:
    """Build the command for a frame whose ``type`` is known and allowed for ``role``."""
    reader = _Reader(frame_type, obj, ref, limits)
    if frame_type == "hello":
        return _hello(reader, role)
    return _PARSERS[frame_type](reader)
