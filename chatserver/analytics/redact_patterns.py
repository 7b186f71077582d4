"""The pattern rules of redaction (every rule of `redact`'s table but ``known``): e-mail
addresses, IPv6 and IPv4 addresses, card numbers and phone numbers in any text become typed
placeholders (`redact_text`).

Most text holds none of this, so each rule is guarded by quick tests (an ``@``, an "at" closed
by a bracket or a "dot", an ASCII digit, two colons…) that may let it run for nothing but
never skip text it would change; the corpus in tests/analytics/test_redact.py holds the forms
each guard must let through.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

__all__ = ["CARD", "EMAIL", "IP", "PHONE", "luhn_ok", "redact_text"]

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
_CARD = re.compile(
    r"(?<![\d-])(?:\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{13,19})"
    r"(?![\d])"
)


# Digits of any script: ``\d`` matches every script's decimal digits, but where a rule needs a
# particular digit (the octets of an IPv4 address, the trunk prefix's 0) it takes that digit
# in every script too, so that "٠١٧٦ ١٢٣٤٥٦٧٨" is a phone number as "0176 12345678" is. Each
# script has its digits 0..9 in a row (a Unicode rule), so a script is known by its zero.
def _digits(low: int, high: int, zeros: tuple[str, ...]) -> str:
    """A regex class: the digits ``low``..``high`` of the scripts whose zeros are given."""
    ranges = (f"{chr(ord(z) + low)}-{chr(ord(z) + high)}" for z in zeros)
    return "[" + "".join(ranges) + "]"


def _ipv4_pattern(zeros: tuple[str, ...]) -> re.Pattern[str]:
    def d(low: int, high: int) -> str:
        return _digits(low, high, zeros)

    octet = rf"(?:{d(2, 2)}{d(5, 5)}{d(0, 5)}|{d(2, 2)}{d(0, 4)}\d|{d(1, 1)}\d\d|{d(1, 9)}?\d)"
    return re.compile(rf"(?<![\w.]){octet}(?:\.{octet}){{3}}(?![\w]|\.\d)")


def _phone_pattern(zeros: tuple[str, ...]) -> re.Pattern[str]:
    zero = _digits(0, 0, zeros)
    return re.compile(
        r"(?<![\w+#])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?![\w])"  # international
        r"|(?<![\w#])\(\d{2,5}\)[ .-]?\d{2,5}(?:[ .-]?\d{2,5}){0,3}(?![\w])"  # (area) number
        r"|(?<![\w#.,-])\d{2,5}(?:[ .-]\d{2,5}){2,5}(?![\w]|[.,-]\d)"  # grouped
        r"|(?<![\w#.,-])\d{3}-\d{4}(?![\w]|[.,-]\d)"  # local 555-1234
        rf"|(?<![\w#.,-]){zero}\d{{1,4}}[ /-]\d{{4,8}}(?![\w]|[.,-]\d)"  # trunk: 0176 12345678
        r"|(?<![\w#.,-])\d{10,11}(?![\w]|[.,]\d)"  # bare
    )


_IPV4 = _ipv4_pattern(("0",))
_PHONE = _phone_pattern(("0",))


class _AnyScript(NamedTuple):
    """The number rules for text with digits of other scripts (made when first needed: finding
    the scripts' zeros takes a scan of the Unicode range)."""

    ipv4: re.Pattern[str]
    phone: re.Pattern[str]
    to_ascii: dict[int, int]  # every script's digit to its ASCII digit


_ANY_DIGIT = re.compile(r"\d")


@lru_cache(maxsize=1)
def _any_script() -> _AnyScript:
    # Every decimal digit lies below U+20000 (tests/analytics/test_redact.py checks it); the
    # range is searched a block at a time, so that memory stays small.
    zeros = tuple(
        c
        for block in range(0, 0x20000, 0x1000)
        for c in _ANY_DIGIT.findall("".join(map(chr, range(block, block + 0x1000))))
        if unicodedata.decimal(c) == 0
    )
    to_ascii = {ord(z) + v: 0x30 + v for z in zeros for v in range(10)}
    return _AnyScript(_ipv4_pattern(zeros), _phone_pattern(zeros), to_ascii)


def _number_rules(segment: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The IPv4 and phone patterns for ``segment``: the plain ones for ASCII text."""
    if segment.isascii():
        return _IPV4, _PHONE
    rules = _any_script()
    return rules.ipv4, rules.phone


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_DOMAIN = re.compile(r" ?[\w-]+(?: ?\. ?[\w-]+)* ?\. ?[^\W\d_]{2,24}\b")
# Runs of digits (of any script) and the separators numbers are written with, in text outside
# ASCII; they start with a digit, so the regex engine skips to the next digit at C speed.
_RUN = re.compile(r"\d[\d ().+/.-]{3,}")
# In ASCII text the runs worth a look (four digits or more) are found on a copy of its bytes
# with every digit made "d", every separator "s" and anything else "x": one C pass, and then a
# regex with a literal first character, which the engine skips to several times faster than
# to a character class (``[0-9]``) — about a third of the cost of `_RUN` on the same text.
_SEPARATORS = " ().+/.-"
_RUN_CLASSES = bytes(
    ord("d") if chr(b).isdigit() and b < 128 else ord("s") if chr(b) in _SEPARATORS else ord("x")
    for b in range(256)
)
_RUN_OF_FOUR = re.compile(rb"d(?:s*d){3}[ds]*")


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its two digits added
_NON_DIGIT = re.compile(r"\D")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a string of decimal digits, of any script (payment card numbers
    pass it): from the right, every second digit doubled."""
    values = tuple(map(int, digits))
    return (sum(values[-1::-2]) + sum(map(_DOUBLED.__getitem__, values[-2::-2]))) % 10 == 0


def _card(match: re.Match[str]) -> str:
    text = match.group()
    digits = _NON_DIGIT.sub("", text)
    if 13 <= len(digits) <= 19 and luhn_ok(digits):
        return CARD
    # "4111 1111 1111 1111 2": the trailing group may belong to the sentence, not the card.
    head, sep, _tail = text.rpartition(" " if " " in text else "-")
    if sep:
        digits = _NON_DIGIT.sub("", head)
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return CARD + text[len(head) :]
    return text


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    # Decided on the ASCII digits of the text (a number in Arabic-Indic digits is the same
    # number); what is kept is the text as written.
    probe = text if text.isascii() else text.translate(_any_script().to_ascii)
    digits = sum(map(str.isdigit, probe))
    if probe.startswith("+"):
        return PHONE if 7 <= digits <= 15 else text
    if probe.startswith("("):
        return PHONE if 7 <= digits <= 15 else text
    if _DATE.fullmatch(probe):
        return text
    if re.fullmatch(r"\d{3}-\d{4}", probe):
        return PHONE
    if re.fullmatch(r"0\d{1,4}[ /-]\d{4,8}", probe):
        return PHONE if 9 <= digits <= 12 else text
    if probe.isdigit():
        return PHONE if 10 <= digits <= 11 else text
    if digits > 13 and " " in text and ("-" in text or "." in text):
        # "555-123-4567 555-765-4321": two numbers side by side, taken as one run.
        return " ".join(_number_rules(part)[1].sub(_phone, part) for part in text.split(" "))
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


def _has_ascii_digit(text: str) -> bool:
    # Ten substring tests (each a C scan) cost less than one regex search for [0-9].
    return (
        "0" in text or "1" in text or "2" in text or "3" in text or "4" in text
        or "5" in text or "6" in text or "7" in text or "8" in text or "9" in text
    )  # fmt: skip


def _numbers(text: str) -> str:
    """IPv4 addresses, card numbers and phone numbers: the rules run only on the runs of
    digits and separators that hold four digits or more (with a little context either side),
    so text without such runs costs one fast scan — and ASCII text without a digit, ten
    ``in`` tests."""
    if text.isascii():
        if not _has_ascii_digit(text):
            return text
        classes = text.encode().translate(_RUN_CLASSES)
        runs = [m.span() for m in _RUN_OF_FOUR.finditer(classes)]
        rules: tuple[re.Pattern[str], re.Pattern[str]] | None = (_IPV4, _PHONE)
    else:  # digits of other scripts too: "٤١١١ ١١١١ ١١١١ ١١١١" is a card number
        rules = None  # per segment: ASCII or not
        runs = [m.span() for m in _RUN.finditer(text)]
        runs = [(a, b) for a, b in runs if sum(map(str.isdigit, text[a:b])) >= 4]
    if not runs:
        return text
    for start, end in reversed(runs):
        while start > 0 and text[start - 1] in "+( " and end - start < 40:
            start -= 1
        lo = max(0, start - 1)
        hi = min(len(text), end + 3)
        segment = text[lo:hi]
        # A card has 13 digits or more and a phone number 7 or more (see `_card`, `_phone`):
        # with fewer left in the segment, their regexes cannot change it.
        digits = sum(map(str.isdigit, segment))
        redacted = segment
        ipv4, phone = rules if rules is not None else _number_rules(segment)
        if segment.count(".") >= 3:  # an IPv4 address has three
            redacted = ipv4.sub(IP, redacted)
            if redacted != segment:
                digits = sum(map(str.isdigit, redacted))
        if digits >= 13:
            before = redacted
            redacted = _CARD.sub(_card, redacted)
            if redacted != before:
                digits = sum(map(str.isdigit, redacted))
        if digits >= 7:
            redacted = phone.sub(_phone, redacted)
        if redacted != segment:
            text = text[:lo] + redacted + text[hi:]
    return text


def _spelled_emails(text: str, lowered: str) -> str:
    """The spelled-out e-mail rule. Its regex tries every word start, so in texts joined by
    NUL (see `redact.Redactor.many`) it runs only on the texts that may hold an address (see
    `_may_spell_email`; no match crosses a NUL, so the result is the same). ``lowered`` is
    ``text`` lower-cased or folded (either keeps the NULs where they are)."""
    if "\0" not in text:
        return _EMAIL_SPELLED.sub(EMAIL, text)
    parts = text.split("\0")
    for i, low in enumerate(lowered.split("\0")):
        if _may_spell_email(low):
            parts[i] = _EMAIL_SPELLED.sub(EMAIL, parts[i])
    return "\0".join(parts)


# An "at" closed by a bracket, maybe after spaces: "(at)", "[ at ]", "{at }"…
_AT_CLOSED = re.compile(r"at\s*[\])}>]")


def _may_spell_email(lowered: str) -> bool:
    """Whether lower-cased (or folded) text holds what every spelled-out address has: a
    bracketed "at" (``(at)``, ``[ at ]``, ``{at }``…), or else a spelled "dot" (the bare
    `` at `` form needs one). A quick test that may say yes for nothing, never no for an
    address; English text has an "at" in nearly every sentence, a closed one seldom."""
    return "dot" in lowered or (
        (")" in lowered or "]" in lowered or "}" in lowered or ">" in lowered)
        and _AT_CLOSED.search(lowered) is not None
    )


def redact_text(text: str, lowered: str | None = None) -> str:
    """Apply the pattern rules (everything but the known name and e-mail) to ``text``
    (``lowered``, if given, is ``text`` lower-cased or folded: see `redact_known._fold`)."""
    if "@" in text:
        text = _emails(text)
        lowered = None
    if lowered is None:
        lowered = text.lower()
    if _may_spell_email(lowered):
        text = _spelled_emails(text, lowered)
    if "::" in text or text.count(":") >= 7:
        text = _IPV6.sub(_ipv6, text)
    return _numbers(text)
