"""Redaction of personal data in exported text: typed placeholders and stable pseudonyms.

Rules, applied in this order to messages, notes, rating comments and page URLs:

==========  =================  ==============================================================
rule        placeholder        what it takes
==========  =================  ==============================================================
known       pseudonym/[EMAIL]  the conversation's visitor name (whole, and each part of three
                               letters or more, at word boundaries) and e-mail, however cased
                               (Unicode case folding: "İlker" is "ILKER" and "ilker", "Weiß"
                               is "WEISS"; see `redact_known`)
email       ``[EMAIL]``        ``local@domain.tld`` (spaces around ``@``/``.`` allowed) and the
                               spelled-out forms ``x (at) y (dot) com``, ``x [at] y [dot] com``,
                               ``x at y dot com``
ipv6        ``[IP]``           anything ``ipaddress`` accepts as IPv6 (``::1``, ``fe80::1``…)
ipv4        ``[IP]``           four dot-separated numbers 0..255 (digits of any script)
card        ``[CARD]``         13..19 digits (of any script), grouped by spaces or dashes or
                               not, that pass the Luhn check; numbers that fail it stay as
                               they are
phone       ``[PHONE]``        digits of any script, as for cards (``٠١٧٦ ١٢٣٤٥٦٧٨``, ``０１７６…``):
                               ``+`` and 7..15 digits; ``(area)`` numbers; three or more
                               groups of digits joined by space, dash or dot with 8..13 digits
                               (dates such as 2026-05-01 or 01.05.2026 excepted); ``555-1234``;
                               ``0176 12345678`` (a trunk
                               prefix and one group, 9..12 digits); a bare run of 10 or 11
                               digits not preceded by ``#``
==========  =================  ==============================================================

The rules are in `redact_patterns` (all but ``known``: `redact_text`) and `redact_known` (the
visitor's names and e-mails: `KnownPII`); `Redactor` here applies both, and `redact_body`
applies them to an exported event's body. `Redactor.many` redacts a conversation's texts in
one pass.

Pseudonyms are stable: ``Visitor-1a2b3c`` for a visitor's name and ``v_…`` for their id, both
a keyed BLAKE2b hash (a MAC) of the visitor id under a key made once per database, so the same visitor has the same
pseudonym in every export and nobody without the key can go back from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .redact_known import KnownPII
from .redact_patterns import redact_text

__all__ = ["Redactor", "redact_body", "redact_optional"]

# Body fields that hold no personal data; every other string in a body is redacted.
_SAFE_KEYS = frozenset(
    {"agent_id", "username", "display_name", "offer_id", "by", "topic", "language", "to_topic",
     "from_agent", "to_agent", "reason", "tags", "all", "position", "score"}
)  # fmt: skip


class Redactor:
    """Redacts text and turns visitor ids and names into stable pseudonyms (HMAC of the id)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must have at least 16 bytes")
        self._key = key
        # Keyed BLAKE2b is a MAC on its own (and several times cheaper than HMAC-SHA256); the
        # keyed state is made once and copied for each id.
        self._state = hashlib.blake2b(key=key[:64], digest_size=16)

    def _mac(self, visitor_id: str) -> str:
        h = self._state.copy()
        h.update(visitor_id.encode())
        return h.hexdigest()

    def visitor_ref(self, visitor_id: str) -> str:
        """The visitor's id as exported: ``v_`` and 16 hex digits."""
        return "v_" + self._mac(visitor_id)[:16]

    def pseudonym(self, visitor_id: str) -> str:
        """The visitor's name as exported: ``Visitor-`` and 6 hex digits."""
        return "Visitor-" + self._mac(visitor_id)[16:22]

    def known(
        self, visitor_id: str, names: Iterable[str | None], emails: Iterable[str | None]
    ) -> KnownPII:
        return KnownPII(self.pseudonym(visitor_id), names, emails)

    @staticmethod
    def many(texts: list[str] | str, known: KnownPII | None = None) -> list[str]:
        """`text` for each of ``texts`` (a list, or the texts joined by NUL when none holds a
        NUL itself), done in one pass over them joined by NUL (which no rule matches or
        crosses, so each text is redacted exactly as on its own)."""
        return Redactor.many_joined(texts, known)[0]

    @staticmethod
    def many_joined(
        texts: list[str] | str, known: KnownPII | None = None
    ) -> tuple[list[str], str | None]:
        """`many`, and the redacted texts joined by NUL when they were done in one pass."""
        if isinstance(texts, str):
            joined = texts
            count = joined.count("\0") + 1
        else:
            if len(texts) < 2:
                return [Redactor.text(t, known) for t in texts], None
            joined = "\0".join(texts)
            count = len(texts)
            if joined.count("\0") != count - 1:  # a text holds a NUL: one by one
                return [Redactor.text(t, known) for t in texts], None
        lowered = None
        if known is not None:
            joined, lowered = known.apply_lowered(joined)
        joined = redact_text(joined, lowered)
        out = joined.split("\0")
        if len(out) == count:
            return out, joined
        # A visitor's name or e-mail with a NUL in it matched across two texts: one by one.
        alone = texts.split("\0") if isinstance(texts, str) else texts
        return [Redactor.text(t, known) for t in alone], None

    @staticmethod
    def text(text: str, known: KnownPII | None = None) -> str:
        if known is not None:
            text = known.apply(text)
        return redact_text(text)


def redact_optional(value: str | None, known: KnownPII) -> str | None:
    """`Redactor.text` of a value that may be missing."""
    return None if value is None else Redactor.text(value, known)


def _redact_value(value: Any, known: KnownPII) -> Any:
    if isinstance(value, str):
        return Redactor.text(value, known)
    if isinstance(value, list):
        return [_redact_value(v, known) for v in value]
    if isinstance(value, dict):
        return {k: v if k in _SAFE_KEYS else _redact_value(v, known) for k, v in value.items()}
    return value


def redact_body(kind: str, body: dict[str, Any], known: KnownPII) -> dict[str, Any]:
    """An exported event's body, redacted: a message's or note's text, the start event's name,
    e-mail and page, and every other string but those under `_SAFE_KEYS`."""
    if kind == "message" or kind == "note":
        text = body.get("text")
        if isinstance(text, str) and len(body) == 1:
            return {"text": redact_text(known.apply(text))}
    elif kind == "start":
        out = dict(body)
        if out.get("name"):
            out["name"] = known.pseudonym
        if out.get("email"):
            out["email"] = "[EMAIL]"
        if isinstance(out.get("page_url"), str):
            out["page_url"] = Redactor.text(out["page_url"], known)
        return out
    elif kind == "assigned" or kind == "tag":
        return body
    return {k: v if k in _SAFE_KEYS else _redact_value(v, known) for k, v in body.items()}
