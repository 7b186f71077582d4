"""The export's CSV text, byte for byte as ``csv.writer`` (excel dialect, ``\r\n``) writes it.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
``'`` so that a spreadsheet shows it as text instead of running it as a formula (`cell`; a
leading ``'`` gets one too, so that `uncell` can always take it off). The messages shape is
written a conversation at a time by `message_block` (see below).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from .rows import MessageRow

__all__ = ["Columns", "MessageGroup", "cell", "cells", "message_block", "uncell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def cell(value: str) -> str:
    """A CSV text cell: a leading ``'`` when it starts like a formula (or with ``'`` itself,
    so that `uncell` can always take it off again)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def uncell(value: str) -> str:
    """The text a CSV cell written by `cell` stands for."""
    return value[1:] if value.startswith("'") else value


# --- the messages shape's CSV -----------------------------------------------------------------
#
# ``csv.writer`` costs about 2 µs a row (it looks every character up in the line terminator),
# more than everything else the export does to a message. The messages shape is written by
# `message_block` instead, a conversation at a time, with the very bytes ``csv.writer`` (excel
# dialect, ``QUOTE_MINIMAL``, ``\r\n``) would write: a field is quoted when it holds a comma, a
# double quote, CR or LF, and its double quotes are doubled. The checks are made per column
# over the conversation's values joined together; a conversation with anything unexpected in
# a column the fast path takes as is (a quote in a timestamp, a seq that is not a number) is
# written by ``csv.writer`` itself (`_message_block_slow`). tests/analytics/test_export.py
# compares the two on awkward values.

# A NUL and a formula's first character: one regex search with a literal first character,
# several times faster than a substring test per character.
_FORMULA_AFTER_NUL = re.compile("\0[" + re.escape("".join(_FORMULA_START)) + "]")


def _field(value: Any) -> str:
    """One CSV field as ``csv.writer`` writes it (``None`` is empty, numbers as ``str``)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if "," in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _plain(joined: str) -> bool:
    """Whether no value in ``joined`` (values joined by NUL) needs quoting."""
    return not ("," in joined or '"' in joined or "\r" in joined or "\n" in joined)


def _starts_formula(joined: str) -> bool:
    """Whether a value in ``joined`` (values joined by NUL) might start like a formula (NULs
    inside a value can only make this say yes when the answer is no, never the reverse)."""
    return joined.startswith(_FORMULA_START) or _FORMULA_AFTER_NUL.search(joined) is not None


#: A conversation's messages column by column: seq, ts, role, author and text.
Columns = tuple[Sequence[Any], Sequence[Any], Sequence[Any], Sequence[Any], Sequence[Any]]


class MessageGroup(NamedTuple):
    """A conversation in the messages shape, as `Export._message_groups` hands it out."""

    rows: list[MessageRow]
    columns: Columns  # the columns of the rows that vary (the others are the conversation's)
    texts: str | None  # the texts joined by NUL, if at hand
    dumped: bytes  # orjson.dumps(rows), what the digest is made of
    digest: str
    seal: str
    pseudonym: str | None  # the visitor's, as author (``Visitor-…``, never like a formula)


def message_block(group: MessageGroup, plain_authors: set[str] | None = None) -> str:
    """A conversation's rows in the messages shape as CSV text (digest and seal on the first
    row only), exactly as ``csv.writer`` writes them.

    Nearly always a quick path: if the rows as JSON hold no backslash, no field holds a
    double quote, CR or LF (JSON escapes them), and if their commas are the JSON's own
    (``8 * rows - 1``) and the texts', only texts with a comma are quoted. ``plain_authors``
    remembers, from one conversation to the next, authors known not to start like a
    formula (the agents, mostly)."""
    rows, (seqs, stamps, roles, authors, texts), joined, dumped, digest, seal, p = group
    try:
        sum(seqs)  # a TypeError unless every seq is a number (whose text needs no quotes)
        if joined is None:
            joined = "\0".join(texts)
        if (
            b"\\" in dumped
            or dumped.count(b",") != 8 * len(rows) - 1 + joined.count(",")
            or _starts_formula(joined)
            or not _plain_authors(authors, plain_authors, p)
        ):
            return _message_block_careful(group)
    except (TypeError, ValueError, AttributeError):  # a value of another type: csv.writer
        return _message_block_slow(rows, digest, seal)
    first = rows[0]
    lead = f"{first[0]},"
    mid = f",{first[3]},{first[4]},"
    lines = [
        f'{lead}{seq},{ts}{mid}{role},{author},"{text}",,\r\n'
        if "," in text
        else f"{lead}{seq},{ts}{mid}{role},{author},{text},,\r\n"
        for seq, ts, role, author, text in zip(seqs, stamps, roles, authors, texts, strict=True)
    ]
    lines[0] = f"{lines[0][:-4]},{digest},{seal}\r\n"
    return "".join(lines)


def _plain_authors(
    authors: Sequence[str], known: set[str] | None, pseudonym: str | None = None
) -> bool:
    """Whether no author starts like a formula, ``pseudonym`` and those in ``known`` taken as
    checked (and those checked now added to ``known``, up to a few thousand)."""
    names = set(authors)
    if pseudonym is not None:
        names.discard(pseudonym)
    if known is not None:
        if names <= known:
            return True
        names -= known
    if _starts_formula("\0".join(names)):
        return False
    if known is not None:
        if len(known) > 4096:
            known.clear()
        known |= names
    return True


def _message_block_careful(group: MessageGroup) -> str:
    """`message_block` when a value needs more than quotes around a comma: each column
    checked (and its values quoted) on its own."""
    rows, (seqs, stamps, roles, authors, texts), joined, _, digest, seal, _ = group
    try:
        if not _plain("\0".join(stamps)) or not _plain("\0".join(roles)):
            return _message_block_slow(rows, digest, seal)
        if joined is None:
            joined = "\0".join(texts)
        if _starts_formula(joined):
            texts = tuple(map(cell, texts))
            joined = "\0".join(texts)
        if '"' in joined or "\r" in joined or "\n" in joined:
            texts = tuple(map(_field, texts))
        elif "," in joined:
            texts = tuple([f'"{t}"' if "," in t else t for t in texts])
        written = {a: _field(cell(a)) for a in set(authors)}
        if any(a != w for a, w in written.items()):
            authors = tuple(map(written.__getitem__, authors))
    except (TypeError, ValueError, AttributeError):
        return _message_block_slow(rows, digest, seal)
    first = rows[0]
    lead = _field(first[0]) + ","
    mid = f",{_field(first[3])},{_field(first[4])},"
    lines = [
        f"{lead}{seq},{ts}{mid}{role},{author},{text},,\r\n"
        for seq, ts, role, author, text in zip(seqs, stamps, roles, authors, texts, strict=True)
    ]
    lines[0] = f"{lines[0][:-4]},{digest},{seal}\r\n"
    return "".join(lines)


def _message_block_slow(rows: list[tuple[Any, ...]], digest: str, seal: str) -> str:
    """`message_block` by ``csv.writer``, row by row."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    for i, r in enumerate(rows):
        author = cell(r[6]) if isinstance(r[6], str) else r[6]
        body = cell(r[7]) if isinstance(r[7], str) else r[7]
        writer.writerow((*r[:6], author, body, *((digest, seal) if i == 0 else ("", ""))))
    return text.getvalue()


def cells(row: list[Any]) -> list[Any]:
    """A row's text values as `cell`s (for ``csv.writer``)."""
    return [cell(v) if isinstance(v, str) else v for v in row]
