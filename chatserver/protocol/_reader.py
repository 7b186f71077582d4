"""Reading one client frame's fields: the value checks and the error messages that name them.

Private to :mod:`chatserver.protocol._parse`, which reads each frame type's fields with a
:class:`_Reader`; every refusal is a :class:`~chatserver.protocol.errors.BadFrame` naming the
field, what it must be and what came instead.
"""

from __future__ import annotations

from typing import Final, NoReturn

from chatserver.protocol.errors import BadFrame, TooLarge
from chatserver.protocol.limits import Limits

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
    "handoff": ("conversation_id",),
    "leave_message": ("topic", "language", "text", "email", "name", "conversation_id"),
    "identify": ("user_id", "user_hash", "token", "name", "email"),
    "ping": (),
    "status": ("status",),
    "accept": ("offer_id",),
    "decline": ("offer_id",),
    "transfer": ("conversation_id", "to_agent", "to_topic"),
    "note": ("conversation_id", "text"),
    "tag": ("conversation_id", "tags", "remove"),
}

MISSING: Final = object()


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
        value = self.obj.get(name, MISSING)
        if value is MISSING:
            if required:
                self.fail(f"missing field {name!r} (expected {expected})")
            return None
        if value is None and required:
            self.fail(f"{name!r} must be {expected}, got null")
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL's text and jsonb refuse it
            self.fail(f"{name!r} must not contain the NUL character (U+0000)")
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
