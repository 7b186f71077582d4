"""What both read models (``sqlite/snapshot.py``, ``postgres/snapshot.py``) do alike in
Python: walking two ordered cursors side by side, separating a conversation's start event
from its messages, and taking message texts out of their JSON bodies — as SQLite's
``json_extract`` does, so that both stores give the same bytes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any, TypeVar

from .snapshots import MessageEvent, MessageOwner

__all__ = ["TEXT_OF_BODY", "message_owners", "plain_texts", "side_by_side", "texts_of"]

C = TypeVar("C", bound=Sequence[Any])

_ROLE = itemgetter(3)  # of a MessageEvent
_BODY = itemgetter(5)


def side_by_side(
    parents: Iterable[Sequence[Any]], children: Iterable[C]
) -> Iterator[tuple[Sequence[Any], list[C]]]:
    """Two cursors in the same order, walked together: each parent row (its id first) with
    the child rows whose first column is that id — a merge join that holds one parent's
    children at a time."""
    groups = groupby(children, key=itemgetter(0))
    pending = next(groups, None)
    for parent in parents:
        if pending is not None and pending[0] == parent[0]:
            yield parent, list(pending[1])
            pending = next(groups, None)
        else:
            yield parent, []


def message_owners(
    conversations: Iterable[Sequence[Any]], messages: Iterable[MessageEvent]
) -> Iterator[tuple[MessageOwner, list[MessageEvent]]]:
    """The messages scan: conversation rows (id, visitor_id, topic, language, name, email)
    beside their ``message`` and ``start`` events, the start events having no role (which
    every other event has); the first start's body goes to the `MessageOwner`."""
    make = MessageOwner._make
    for raw, own in side_by_side(conversations, messages):
        start: str | None = None
        if own:
            if own[0][3] is None:  # the first event is the start, as the hub writes it
                start = own[0][5]
                del own[0]
            if not all(map(_ROLE, own)):  # any other start event
                if start is None:
                    start = next(e[5] for e in own if e[3] is None)
                own = [e for e in own if e[3] is not None]
        yield make((*raw, start)), own


# Taking a message's text out of its body. The store writes bodies as orjson does, so a
# message's body is nearly always exactly {"text":"…"} with nothing escaped; a whole
# conversation of those is checked and cut up with a few string operations on its bodies
# joined together, where json_extract on every row in the scan would cost about a tenth of the
# export. Anything else goes through SQLite's json_extract after all (the store's own
# connection on SQLite, an in-memory one elsewhere: the same function either way).
TEXT_OF_BODY = "SELECT CAST(coalesce(json_extract(?, '$.text'), '') AS TEXT)"
_PLAIN_HEAD = '{"text":"'
_PLAIN_TAIL = '"}'
_PLAIN_SEAM = '"}\0{"text":"'  # a tail, the NUL between two bodies, a head
# Control characters (JSON strings hold none unescaped), double quotes and backslashes: none
# may be in a text cut out of its body as it stands.
_NOT_IN_PLAIN = bytes(range(32)) + b'"\\'


def plain_texts(bodies: str, count: int) -> str | None:
    """The texts of ``count`` message bodies joined by NUL (``bodies``), joined by NUL, if
    every body is exactly ``{"text":"…"}`` with no double quote, backslash or control
    character in the text — so that json_extract would give the text as it stands — or None.

    Why the checks suffice: the first head and the last tail cut off and each seam made a
    NUL, the result is ``len(bodies) - 11 * count`` long only if ``count - 1`` seams were
    replaced, each around its own NUL (a seam holds one, and no two seams overlapped); if
    then no other NUL is left, those were all the NULs, i.e. the ones between the bodies,
    so every body starts with a head and ends with a tail, and a body shorter than both
    (``{"text":"}``) would have made two seams overlap or lost its seam with the first head
    or the last tail. What is left between each head and tail is the text, checked for the
    rest."""
    if not (bodies.startswith(_PLAIN_HEAD) and bodies.endswith(_PLAIN_TAIL)):
        return None
    texts = bodies[len(_PLAIN_HEAD) : -len(_PLAIN_TAIL)].replace(_PLAIN_SEAM, "\0")
    if len(texts) != len(bodies) - 11 * count:
        return None
    # The seams left ``count - 1`` NULs; if those are all the NULs, double quotes,
    # backslashes and control characters there are (each an ASCII byte in UTF-8, and one C
    # pass deletes them all), none is in a text.
    encoded = texts.encode()
    if len(encoded) - len(encoded.translate(None, _NOT_IN_PLAIN)) != count - 1:
        return None
    return texts


def texts_of(events: list[MessageEvent], conn: sqlite3.Connection) -> str | list[str]:
    """`ReadSnapshot.message_texts`, with ``conn`` (any SQLite connection) for the bodies
    that are not plain."""
    if events:
        try:
            texts = plain_texts("\0".join(map(_BODY, events)), len(events))
        except TypeError:  # a body that is not text
            texts = None
        if texts is not None:
            return texts
    execute = conn.execute
    return [str(execute(TEXT_OF_BODY, (e[5],)).fetchone()[0]) for e in events]
