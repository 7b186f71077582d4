"""Redaction of personal data in exported text: typed placeholders and stable pseudonyms.

Rules, applied in this order to messages, notes, rating comments and page URLs:

==========  =================  ==============================================================
rule        placeholder        what it takes
==========  =================  ==============================================================
known       pseudonym/[EMAIL]  the conversation's visitor name (whole, and each part of three
                               letters or more, at word boundaries) and e-mail, however cased
email       ``[EMAIL]``        ``local@domain.tld`` (spaces around ``@``/``.`` allowed) and the
                               spelled-out forms ``x (at) y (dot) com``, ``x [at] y [dot] com``,
                               ``x at y dot com``
ipv6        ``[IP]``           anything ``ipaddress`` accepts as IPv6 (``::1``, ``fe80::1``…)
ipv4        ``[IP]``           four dot-separated numbers 0..255
card        ``[CARD]``         13..19 digits, grouped by spaces or dashes or not, that pass the
                               Luhn check; numbers that fail it stay as they are
phone       ``[PHONE]``        ``+`` and 7..15 digits; ``(area)`` numbers; three or more
                               groups of digits joined by space, dash or dot with 8..13 digits
                               (dates such as 2026-05-01 or 01.05.2026 excepted); ``555-1234``;
                               ``0176 12345678`` (a trunk
                               prefix and one group, 9..12 digits); a bare run of 10 or 11
                               digits not preceded by ``#``
==========  =================  ==============================================================

Pseudonyms are stable: ``Visitor-1a2b3c`` for a visitor's name and ``v_…`` for their id, both
a keyed BLAKE2b hash (a MAC) of the visitor id under a key made once per database, so the same visitor has the same
pseudonym in every export and nobody without the key can go back from it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = ["KnownPII", "Redactor", "luhn_ok", "redact_text"]

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IP = "[IP]"

_AT = r"(?:[\[({<]\s*at\s*[\])}>]|\s+at\s+)"
_BRACKET_AT = r"[\[({<]\s*at\s*[\])}>]"
_DOT_WORD = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+)"
_DOT_ANY = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+|\s?\.\s?)"
# "x (at) y (dot) com" / "x [at] y.com": a bracketed "at" and any dot; the bare " at " needs a
# spelled-out " dot " too ("meet at home.It" is not an address).
_EMAIL_SPELLED = re.compile(
    rf"(?i)\b[\w.+-]+\s*{_BRACKET_AT}\s*[\w-]+(?:{_DOT_ANY}[\w-]+)*{_DOT_ANY}[a-z]{{2,24}}\b"
    rf"|\b[\w.+-]+\s+at\s+[\w-]+(?:{_DOT_WORD}[\w-]+)*{_DOT_WORD}[a-z]{{2,24}}\b"
)
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_CARD = re.compile(
    r"(?<![\d-])(?:\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{13,19})"
    r"(?![\d])"
)
_PHONE = re.compile(
    r"(?<![\w+#])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w])"  # international
    r"|(?<![\w#])\(\d{2,5}\)[ .-]?\d{2,5}(?:[ .-]?\d{2,5}){0,3}(?![\w])"  # (area) number
    r"|(?<![\w#.,-])\d{2,5}(?:[ .-]\d{2,5}){2,5}(?![\w]|[.,-]\d)"  # grouped
    r"|(?<![\w#.,-])\d{3}-\d{4}(?![\w]|[.,-]\d)"  # local 555-1234
    r"|(?<![\w#.,-])0\d{1,4}[ /-]\d{4,8}(?![\w]|[.,-]\d)"  # trunk prefix: 0176 12345678
    r"|(?<![\w#.,-])\d{10,11}(?![\w]|[.,]\d)"  # bare
)
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_DOMAIN = re.compile(r" ?[\w-]+(?: ?\. ?[\w-]+)* ?\. ?[^\W\d_]{2,24}\b")
# Runs of digits and the separators numbers are written with; they start with a digit, so
# the regex engine skips to the next digit at C speed.
_RUN = re.compile(r"\d[\d ().+/.-]{3,}")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of digits (payment card numbers pass it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return CARD
    # "4111 1111 1111 1111 2": the trailing group may belong to the sentence, not the card.
    head, sep, _tail = text.rpartition(" " if " " in text else "-")
    if sep:
        digits = re.sub(r"\D", "", head)
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return CARD + text[len(head) :]
    return text


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    if text.startswith("+"):
        return PHONE if 7 <= digits <= 15 else text
    if text.startswith("("):
        return PHONE if 7 <= digits <= 15 else text
    if _DATE.fullmatch(text):
        return text
    if re.fullmatch(r"\d{3}-\d{4}", text):
        return PHONE
    if re.fullmatch(r"0\d{1,4}[ /-]\d{4,8}", text):
        return PHONE if 9 <= digits <= 12 else text
    if text.isdigit():
        return PHONE if 10 <= digits <= 11 else text
    if digits > 13 and " " in text and ("-" in text or "." in text):
        # "555-123-4567 555-765-4321": two numbers side by side, taken as one run.
        return " ".join(_PHONE.sub(_phone, part) for part in text.split(" "))
    return PHONE if 8 <= digits <= 13 else text


def _ipv6(match: re.Match[str]) -> str:
    text = match.group()
    if text.count(":") < 2 or len(text) < 3:
        return text
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return IP


def _emails(text: str) -> str:
    """The ``local@domain.tld`` rule, anchored on each ``@`` (scanning every position with a
    regex that starts with the local part would cost far more)."""
    out: list[str] = []
    done = 0  # text[:done] is settled
    at = text.find("@")
    while at != -1:
        start = at
        if start > done and text[start - 1] == " ":
            start -= 1
        local_end = start
        while start > done and (text[start - 1].isalnum() or text[start - 1] in "_.+'-"):
            start -= 1
        domain = _DOMAIN.match(text, at + 1)
        if start < local_end and domain is not None:
            out.append(text[done:start])
            out.append(EMAIL)
            done = domain.end()
            at = text.find("@", done)
        else:
            at = text.find("@", at + 1)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _numbers(text: str) -> str:
    """IPv4 addresses, card numbers and phone numbers: the rules run only on the runs of
    digits and separators that hold four digits or more (with a little context either side),
    so text without such runs costs one fast scan."""
    runs = [m.span() for m in _RUN.finditer(text)]
    if not runs:
        return text
    for start, end in reversed(runs):
        if sum(c.isdigit() for c in text[start:end]) < 4:
            continue
        while start > 0 and text[start - 1] in "+( " and end - start < 40:
            start -= 1
        lo = max(0, start - 1)
        hi = min(len(text), end + 3)
        segment = text[lo:hi]
        redacted = segment
        if "." in redacted:
            redacted = _IPV4.sub(IP, redacted)
        redacted = _CARD.sub(_card, redacted)
        redacted = _PHONE.sub(_phone, redacted)
        if redacted != segment:
            text = text[:lo] + redacted + text[hi:]
    return text


def redact_text(text: str, lowered: str | None = None) -> str:
    """Apply the pattern rules (everything but the known name and e-mail) to ``text``
    (``lowered``, if given, is ``text.lower()``)."""
    if "@" in text:
        text = _emails(text)
        lowered = None
    if lowered is None:
        lowered = text.lower()
    if (
        "at)" in lowered
        or "at]" in lowered
        or "at}" in lowered
        or "at>" in lowered
        or "at )" in lowered
        or "at ]" in lowered
        or (" at " in lowered and " dot " in lowered)
    ):
        text = _EMAIL_SPELLED.sub(EMAIL, text)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(_ipv6, text)
    return _numbers(text)


@lru_cache(maxsize=4096)
def _known_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # Lower-case literals, longest first (so "maria garcia" wins over "maria"), searched in
    # the lower-cased text: no IGNORECASE and no lookbehind in front, so the engine jumps
    # from one candidate to the next; word boundaries are checked on each match.
    return re.compile("|".join(re.escape(w) for w in words))


@lru_cache(maxsize=256)
def _known_pattern_i(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def _whole_words(pattern: re.Pattern[str], replacement: str, text: str, searched: str) -> str:
    """``text`` with every whole-word match of ``pattern`` in ``searched`` (``text`` or its
    lower case, of the same length) replaced."""
    out: list[str] = []
    done = 0
    for match in pattern.finditer(searched):
        start, end = match.span()
        if (start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")) or (
            end < len(text) and (text[end].isalnum() or text[end] == "_")
        ):
            continue
        out.append(text[done:start])
        out.append(replacement)
        done = end
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


@lru_cache(maxsize=4096)
def _known_words(names: tuple[str, ...]) -> tuple[str, ...]:
    """The strings to replace for these names: each whole name and its parts of three letters
    or more (two for names outside ASCII, as in Chinese), lower-cased, longest first."""
    words: set[str] = set()
    for name in names:
        whole = " ".join(name.split())
        if not whole:
            continue
        words.add(whole.lower())
        for part in re.split(r"[\s,.'-]+", whole):
            if len(part) >= 3 or (part and not part.isascii() and len(part) >= 2):
                words.add(part.lower())
    return tuple(sorted(words, key=lambda w: (-len(w), w)))


class KnownPII:
    """What is known about one conversation's visitor: their name(s) and e-mail(s)."""

    __slots__ = ("_emails", "_needles", "_pattern", "pseudonym")
    _emails: tuple[str, ...]
    _needles: tuple[str, ...]

    def __init__(self, pseudonym: str, names: Iterable[str | None], emails: Iterable[str | None]):
        self.pseudonym = pseudonym
        self._needles = _known_words(tuple(sorted({n for n in names if n})))
        self._emails = tuple(sorted({e.strip().lower() for e in emails if e and e.strip()}))
        self._pattern = _known_pattern(self._needles) if self._needles else None

    def apply(self, text: str) -> str:
        return self.apply_lowered(text)[0]

    def apply_lowered(self, text: str) -> tuple[str, str | None]:
        """`apply`, and the result's lower case when it is at hand (None otherwise)."""
        lowered = text.lower()
        for email in self._emails:
            if email in lowered:
                text = re.sub(re.escape(email), EMAIL, text, flags=re.IGNORECASE)
                lowered = text.lower()
        pattern = self._pattern
        if pattern is not None:
            for needle in self._needles:
                if needle in lowered:
                    if len(lowered) == len(text):  # positions agree: search the lower case
                        return _whole_words(pattern, self.pseudonym, text, lowered), None
                    words = _known_pattern_i(self._needles)
                    return _whole_words(words, self.pseudonym, text, text), None
        return text, lowered


class Redactor:
    """Redacts text and turns visitor ids and names into stable pseudonyms (HMAC of the id)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must have at least 16 bytes")
        self._key = key

    def _mac(self, visitor_id: str) -> str:
        # Keyed BLAKE2b is a MAC on its own (and several times cheaper than HMAC-SHA256).
        return hashlib.blake2b(visitor_id.encode(), key=self._key[:64], digest_size=16).hexdigest()

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
    def many(texts: list[str], known: KnownPII | None = None) -> list[str]:
        """`text` for each of ``texts``, done in one pass over them joined by NUL (which no
        rule matches or crosses, so each text is redacted exactly as on its own)."""
        if len(texts) < 2:
            return [Redactor.text(t, known) for t in texts]
        joined = "\0".join(texts)
        if joined.count("\0") == len(texts) - 1:
            lowered = None
            if known is not None:
                joined, lowered = known.apply_lowered(joined)
            out = redact_text(joined, lowered).split("\0")
            if len(out) == len(texts):
                return out
        return [Redactor.text(t, known) for t in texts]

    @staticmethod
    def text(text: str, known: KnownPII | None = None) -> str:
        if known is not None:
            text = known.apply(text)
        return redact_text(text)
