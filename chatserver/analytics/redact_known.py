"""The ``known`` rule of redaction (see `redact`): the conversation's visitor's name(s) and
e-mail(s), found however cased, become the pseudonym and ``[EMAIL]`` (`KnownPII`)."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from .redact_patterns import EMAIL

__all__ = ["KnownPII"]


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
