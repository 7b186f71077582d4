"""Redaction of personal data in exported text: typed placeholders and stable pseudonyms.

Rules, applied in this order to messages, notes, rating comments and page URLs:

==========  =================  ==============================================================
rule        placeholder        what it takes
==========  =================  ==============================================================
known       pseudonym/[EMAIL]  the conversation's visitor name (whole, and each part of three
                               letters or more, at word boundaries) and e-mail, however cased
                               (Unicode case folding: "İlker" is "ILKER" and "ilker", "Weiß"
                               is "WEISS"; see `_fold`)
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

Most text holds none of this, so each rule is guarded by quick tests (an ``@``, an "at" closed
by a bracket or a "dot", an ASCII digit, two colons…) that may let it run for nothing but
never skip text it would change; the corpus in tests/analytics/test_redact.py holds the forms
each guard must let through. `Redactor.many` redacts a conversation's texts in one pass.

Pseudonyms are stable: ``Visitor-1a2b3c`` for a visitor's name and ``v_…`` for their id, both
a keyed BLAKE2b hash (a MAC) of the visitor id under a key made once per database, so the same visitor has the same
pseudonym in every export and nobody without the key can go back from it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

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
    NUL (see `Redactor.many`) it runs only on the texts that may hold an address (see
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
    (``lowered``, if given, is ``text`` lower-cased or folded: see `_fold`)."""
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


# --- the visitor's names and e-mails ------------------------------------------------------
#
# Both are found however cased, by comparing *folded* text: `_fold` is Unicode full case
# folding (``str.casefold``: "ß", "ẞ" and "SS" all fold to "ss", "Σ", "σ" and the final "ς"
# to "σ"), and then the Turkish i's made one letter: the dotless "ı" folds to "i", and so does
# an "i" followed by combining dots above (what "İ" folds to, or what decomposed text holds),
# so that "İlker", "ILKER", "ilker", "ılker" and "i̇lker" all match the name "İlker Şahin". A
# name part matches a span of text when both fold to the same string; "i" plus its dots is one
# letter (a match neither starts nor ends between them). Accents are not dropped ("Sahin" is
# not "Şahin") and text is not normalised (NFC "é" is not NFD "é").
#
# Most text folds to a string with one character per character of the text (ASCII always):
# then a match's place in the folded text is its place in the text. Otherwise (an "ß", an "İ",
# a ligature…) the places are mapped through the characters that fold to more or fewer
# (`_irregular`), found only when a needle occurs in the folded text at all.

_DOTTED_I = re.compile("i\u0307+")


def _fold(text: str) -> tuple[str, bool]:
    """``text`` folded (see above), and whether it has a character for each of ``text``."""
    folded = text.casefold()
    aligned = len(folded) == len(text)
    if not folded.isascii():
        if "ı" in folded:
            folded = folded.replace("ı", "i")
        if "\u0307" in folded:
            undotted = _DOTTED_I.sub("i", folded)
            if len(undotted) != len(folded):
                folded, aligned = undotted, False
    return folded, aligned


class _Irregular(NamedTuple):
    """Where folding does not give one character per character of a text: those characters'
    places in the text (``at``), in the folded text (``folded_at``), and how many characters
    each folds to (``sizes``: 0 for a dot above that joins the "i" before it, 2 or 3 for
    "ß", "ﬁ"…)."""

    at: list[int]
    folded_at: list[int]
    sizes: list[int]

    def place(self, folded_at: int) -> tuple[int, bool]:
        """The place in the text of ``folded_at`` (past any dots that join an "i"), and
        whether a character of the text starts (or the text ends) there."""
        i = bisect_right(self.folded_at, folded_at) - 1
        if i < 0:
            return folded_at, True
        at, start, size = self.at[i], self.folded_at[i], self.sizes[i]
        if folded_at >= start + size:
            return at + 1 + folded_at - start - size, True
        return at, folded_at == start


@lru_cache(maxsize=2)
def _irregular_pattern(dots: bool) -> re.Pattern[str]:
    """Characters that fold to more than one character ("İ" is made one), and (with
    ``dots``; text seldom has any) dots above after an i: made when first needed (it takes
    a scan of the Unicode range)."""
    longer, ends_in_i = [], []
    for block in range(0, 0x20000, 0x1000):
        for c in map(chr, range(block, block + 0x1000)):
            folded = c.casefold()
            if len(folded) > 1 and c != "İ":
                longer.append(c)
            if folded.endswith(("i", "ı", "i\u0307")):
                ends_in_i.append(c)
    chars = "".join(map(re.escape, longer))
    after_i = "".join(map(re.escape, ends_in_i))
    if not dots:
        return re.compile(f"[{chars}]")
    return re.compile(f"[{chars}]|(?<=[{after_i}])\u0307+")


def _irregular(text: str) -> _Irregular:
    """The characters of ``text`` that `_fold` does not turn into one character each: a
    C scan finds them, so mapping places costs nothing for the text in between."""
    at: list[int] = []
    folded_at: list[int] = []
    sizes: list[int] = []
    shift = 0  # folded place - text place, before the character at hand
    for match in _irregular_pattern("\u0307" in text).finditer(text):
        chars = match.group()
        if chars[0] == "\u0307":  # dots that join the i before them: none each
            for k in range(match.start(), match.end()):
                at.append(k)
                folded_at.append(k + shift)
                sizes.append(0)
                shift -= 1
        else:
            k = match.start()
            size = len(chars.casefold())
            at.append(k)
            folded_at.append(k + shift)
            sizes.append(size)
            shift += size - 1
    return _Irregular(at, folded_at, sizes)


def _replace_folded(
    needles: tuple[str, ...],
    replacement: str,
    text: str,
    folded: str,
    aligned: bool,
    whole_words: bool,
) -> tuple[str, str | None]:
    """``text`` with every span that folds to one of ``needles`` (folded, longest first) —
    and, with ``whole_words``, is a whole word — replaced, and the result folded when
    ``aligned`` (else None). ``folded`` is ``_fold(text)``; ``replacement`` folds to its
    lower case and ends with no "i".

    Spans are taken leftmost first; at one place, the first needle in order (the longest);
    none overlaps one taken before it. A needle found where it is not a whole word does not
    hide another that starts later inside it. `str.find` per needle does the searching (a
    regex alternation would try every letter a needle starts with)."""
    irregular: _Irregular | None = None  # made when first needed, if not aligned
    size = len(text)
    nexts = list(map(folded.find, needles))
    out: list[str] = []
    folded_out: list[str] = []  # when aligned
    done = pos = 0  # text[:done] is settled; matches may start at folded[pos:]
    while True:
        best = which = -1
        for i, at in enumerate(nexts):
            if 0 <= at < pos:  # overlapped by the last match: look again from its end
                at = nexts[i] = folded.find(needles[i], pos)
            if at >= 0 and (best < 0 or at < best):
                best, which = at, i
        if best < 0:
            break
        end = best + len(needles[which])
        if aligned:
            start, stop, ok = best, end, True
        else:  # back to places in text; a match must start and end where a character does
            if irregular is None:
                irregular = _irregular(text)
            start, ok = irregular.place(best)
            stop, ends_well = irregular.place(end)
            ok = ok and ends_well
        if ok and whole_words:  # a word character is alphanumeric or "_", as for ``\b``
            if start > 0:
                ch = text[start - 1]
                ok = not (ch.isalnum() or ch == "_")
            if ok and stop < size:
                ch = text[stop]
                ok = not (ch.isalnum() or ch == "_")
        if not ok:
            nexts[which] = folded.find(needles[which], best + 1)
            continue
        out.append(text[done:start])
        if aligned:
            folded_out.append(folded[done:start])
        done, pos = stop, end
    if not out:
        return text, folded
    out.append(text[done:])
    if not aligned:
        return replacement.join(out), None
    folded_out.append(folded[done:])
    return replacement.join(out), replacement.lower().join(folded_out)


@lru_cache(maxsize=4096)
def _needles(names: tuple[str | None, ...]) -> tuple[str, ...]:
    """`_known_words` of the names given (some of them missing, some repeated)."""
    return _known_words(tuple(sorted({n for n in names if n})))


def _longest_first(words: set[str]) -> tuple[str, ...]:
    return tuple(sorted(words, key=lambda w: (-len(w), w)))


@lru_cache(maxsize=4096)
def _known_words(names: tuple[str, ...]) -> tuple[str, ...]:
    """The strings to replace for these names: each whole name and its parts of three letters
    or more (two for names outside ASCII, as in Chinese), folded, longest first."""
    words: set[str] = set()
    for name in names:
        whole = " ".join(name.split())
        if not whole:
            continue
        words.add(_fold(whole)[0])
        for part in re.split(r"[\s,.'-]+", whole):
            if len(part) >= 3 or (part and not part.isascii() and len(part) >= 2):
                words.add(_fold(part)[0])
    return _longest_first(words)


def _folded_emails(emails: tuple[str | None, ...]) -> tuple[str, ...]:
    """The e-mails given (some missing, some repeated), folded, longest first."""
    found = {e.strip() for e in emails if e}
    found.discard("")
    if len(found) == 1:  # mostly: the visitor's and the start event's are the same
        return (_fold(found.pop())[0],)
    return _longest_first({_fold(e)[0] for e in found})


class KnownPII:
    """What is known about one conversation's visitor: their name(s) and e-mail(s)."""

    __slots__ = ("_emails", "_needles", "pseudonym")
    _emails: tuple[str, ...]
    _needles: tuple[str, ...]

    def __init__(self, pseudonym: str, names: Iterable[str | None], emails: Iterable[str | None]):
        self.pseudonym = pseudonym
        self._needles = _needles(tuple(names))
        self._emails = _folded_emails(tuple(emails))

    def apply(self, text: str) -> str:
        return self.apply_lowered(text)[0]

    def apply_lowered(self, text: str) -> tuple[str, str | None]:
        """`apply`, and the result folded when it is at hand (None otherwise; `redact_text`
        takes it for its lower case: what it looks for there folds as it lowers)."""
        folded, aligned = _fold(text)
        emails = self._emails
        if emails and (emails[0] in folded or any(email in folded for email in emails[1:])):
            out, out_folded = _replace_folded(emails, EMAIL, text, folded, aligned, False)
            if out is not text:
                text = out
                folded, aligned = _fold(text) if out_folded is None else (out_folded, True)
        needles = self._needles
        if needles:
            return _replace_folded(needles, self.pseudonym, text, folded, aligned, True)
        return text, folded


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
