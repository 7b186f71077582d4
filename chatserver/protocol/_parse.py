"""Frame text → validated :mod:`~chatserver.protocol.commands`; every failure a ProtocolError.

Private: :class:`~chatserver.protocol.connection.ProtocolConnection` is the public way in. The
steps are split (decode, ref, type, fields) so the connection can apply its state and rate
rules between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn

import orjson

from chatserver.protocol.commands import (
    Accept,
    Close,
    Command,
    Decline,
    Hello,
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
from chatserver.protocol.errors import BadFrame, TooLarge
from chatserver.protocol.limits import Limits
from chatserver.protocol.types import Role

MAX_ID_CHARS: Final = 64
MAX_REF_CHARS: Final = 64
MAX_SITE_CHARS: Final = 255
MAX_URL_CHARS: Final = 2048
MAX_EMAIL_CHARS: Final = 254
#: The largest integer a JavaScript client can hold exactly.
MAX_SAFE_INT: Final = 2**53 - 1

_ID = f"a non-empty string of at most {MAX_ID_CHARS} characters"

#: The fields each frame type may carry besides ``type`` and ``ref``, in documentation order.
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "hello": ("token", "site"),
    "start": ("topic", "language", "name", "email", "text", "page_url"),
    "message": ("conversation_id", "client_id", "text"),
    "typing": ("conversation_id", "active"),
    "read": ("conversation_id", "seq"),
    "resume": ("conversation_id", "last_seq"),
    "close": ("conversation_id",),
    "rate": ("conversation_id", "score", "comment"),
    "leave_message": ("topic", "language", "text", "email", "name", "conversation_id"),
    "ping": (),
    "status": ("status",),
    "accept": ("offer_id",),
    "decline": ("offer_id",),
    "transfer": ("conversation_id", "to_agent", "to_topic"),
    "note": ("conversation_id", "text"),
    "tag": ("conversation_id", "tags", "remove"),
}

_MISSING: Final = object()


def describe(value: object) -> str:
    """Name a JSON value's kind for an error message: ``null``, ``a boolean``, …"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction" if not value.is_integer() else "a number (not an integer)"
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if value else "an empty string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - orjson yields only the kinds above


def quote(value: str, limit: int = 40) -> str:
    """Quote a client-supplied string for an error message, cut to ``limit`` characters."""
    if len(value) > limit:
        value = value[:limit] + "…"
    return repr(value)


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


def normalise_choice(value: str, choices: tuple[str, ...]) -> str | None:
    """Match ``value`` against ``choices`` ignoring case; returns the configured spelling."""
    folded = value.strip().casefold()
    for choice in choices:
        if choice.casefold() == folded:
            return choice
    return None


def normalise_language(value: str, languages: tuple[str, ...]) -> str | None:
    """``en-US``, ``EN_us``, ``en`` → ``en`` when ``en`` is offered (a full tag wins if offered)."""
    tag = value.strip().replace("_", "-")
    exact = normalise_choice(tag, languages)
    if exact is not None:
        return exact
    primary = tag.split("-", 1)[0]
    return normalise_choice(primary, languages) if primary else None


def valid_email(value: str) -> bool:
    """Loose check: one ``@``, something before it, a dot inside the domain, no whitespace."""
    if len(value) > MAX_EMAIL_CHARS or value.count("@") != 1:
        return False
    if any(ch.isspace() for ch in value):
        return False
    local, _, domain = value.partition("@")
    if not local or "." not in domain:
        return False
    return not (domain.startswith(".") or domain.endswith(".") or ".." in domain)


class _Reader:
    """Reads the fields of one frame, raising a precise error for the first bad one."""

    def __init__(
        self, frame_type: str, obj: dict[str, object], ref: str | None, limits: Limits
    ) -> None:
        self.frame_type = frame_type
        self.obj = obj
        self.ref = ref
        self.limits = limits
        allowed = FIELDS[frame_type]
        for key in obj:
            if key not in allowed and key not in ("type", "ref"):
                names = ", ".join((*allowed, "ref"))
                self.fail(f"unknown field {quote(key)}; allowed: {names}")

    def fail(self, message: str) -> NoReturn:
        raise BadFrame(f"{self.frame_type}: {message}", self.ref)

    def _get(self, name: str, expected: str, *, required: bool) -> object:
        """The raw value, or ``None`` for an optional field that is absent or null."""
        value = self.obj.get(name, _MISSING)
        if value is _MISSING:
            if required:
                self.fail(f"missing field {name!r} (expected {expected})")
            return None
        if value is None and required:
            self.fail(f"{name!r} must be {expected}, got null")
        return value

    def identifier(self, name: str, *, required: bool = True) -> str | None:
        value = self._get(name, _ID, required=required)
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
            self.fail(f"{name!r} must be {_ID}, got {describe(value)}")
        return value

    def req_identifier(self, name: str) -> str:
        value = self.identifier(name)
        assert value is not None
        return value

    def integer(self, name: str, lo: int, hi: int) -> int:
        expected = f"an integer from {lo} to {hi}"
        value = self._get(name, expected, required=True)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{name!r} must be {expected}, got {describe(value)}")
        if not lo <= value <= hi:
            self.fail(f"{name!r} must be {expected}, got {value}")
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name, "true or false", required=True)
        if not isinstance(value, bool):
            self.fail(f"{name!r} must be true or false, got {describe(value)}")
        return value

    def text(self, name: str, *, required: bool) -> str | None:
        """Chat text: stripped; empty is an error when required, "not given" when optional."""
        expected = "a non-empty string"
        value = self._get(name, expected, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(f"{name!r} must be {expected}, got {describe(value)}")
        text = value.strip()
        if not text:
            if required:
                self.fail(f"{name!r} must not be empty or only whitespace")
            return None
        if len(text) > self.limits.max_text_chars:
            raise TooLarge(
                f"{self.frame_type}: {name!r} has {len(text)} characters; "
                f"at most {self.limits.max_text_chars} are allowed",
                self.ref,
            )
        return text

    def req_text(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def short_string(self, name: str, max_chars: int) -> str | None:
        """An optional short string, stripped; empty counts as not given."""
        expected = f"a string of at most {max_chars} characters"
        value = self._get(name, expected, required=False)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(f"{name!r} must be {expected}, got {describe(value)}")
        value = value.strip()
        if len(value) > max_chars:
            self.fail(f"{name!r} must be {expected}, got {describe(value)}")
        return value or None

    def email(self, *, required: bool) -> str | None:
        expected = "an e-mail address like name@example.com"
        value = self._get("email", expected, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(f"'email' must be {expected}, got {describe(value)}")
        value = value.strip()
        if not value:
            if required:
                self.fail(f"'email' must be {expected}, got an empty string")
            return None
        if not valid_email(value):
            self.fail(f"'email' must be {expected}, got {quote(value)}")
        return value

    def page_url(self) -> str | None:
        value = self.short_string("page_url", MAX_URL_CHARS)
        if value is not None and not value.lower().startswith(("http://", "https://")):
            self.fail(f"'page_url' must be an http:// or https:// URL, got {quote(value)}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = True) -> str | None:
        allowed = ", ".join(choices)
        expected = f"one of: {allowed}"
        value = self._get(name, expected, required=required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(f"{name!r} must be {expected}; got {describe(value)}")
        found = normalise_choice(value, choices)
        if found is None:
            self.fail(f"unknown {name} {quote(value)}; allowed: {allowed}")
        return found

    def topic(self, name: str = "topic", *, required: bool = True) -> str | None:
        return self.choice(name, self.limits.topics, required=required)

    def req_topic(self) -> str:
        value = self.topic()
        assert value is not None
        return value

    def language(self) -> str:
        allowed = ", ".join(self.limits.languages)
        expected = f"a language code, one of: {allowed}"
        value = self._get("language", expected, required=True)
        if not isinstance(value, str):
            self.fail(f"'language' must be {expected}; got {describe(value)}")
        found = normalise_language(value, self.limits.languages)
        if found is None:
            self.fail(f"unknown language {quote(value)}; allowed: {allowed}")
        return found

    def tag_list(
        self, name: str, *, required: bool, min_count: int, hint: str = ""
    ) -> tuple[str, ...]:
        """An array of tags: lowercased, stripped, duplicates removed, order kept.

        An optional list that is absent or ``null`` is empty.
        """
        lim = self.limits
        expected = (
            f"an array of {min_count} to {lim.max_tags} non-empty strings "
            f"of at most {lim.max_tag_chars} characters"
        )
        value = self._get(name, expected, required=required)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(f"{name!r} must be {expected}, got {describe(value)}")
        if not min_count <= len(value) <= lim.max_tags:
            self.fail(f"{name!r} must be {expected}{hint}, got {len(value)} tags")
        tags: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(f"{name!r}[{index}] must be a string, got {describe(item)}")
            tag = item.strip().lower()
            if not tag or len(tag) > lim.max_tag_chars:
                self.fail(
                    f"{name!r}[{index}] must be a non-empty string of at most "
                    f"{lim.max_tag_chars} characters, got {describe(tag)}"
                )
            if tag not in tags:
                tags.append(tag)
        return tuple(tags)


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


def _ping(r: _Reader) -> Ping:
    return Ping(ref=r.ref)


def _status(r: _Reader) -> Status:
    value = r.obj.get("status", _MISSING)
    if value is _MISSING:
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
