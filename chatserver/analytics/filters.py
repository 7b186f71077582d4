"""What an export or a summary selects, parsed from text: `Filters` and the incremental `Cursor`
(both the store's: `chatserver.store.snapshots`).

Periods apply to a conversation's arrival (``created_at``): ``since`` is inclusive, ``until``
exclusive. ``agent`` selects the conversations the agent took part in (any ``assigned`` event
naming them); ``tag`` those carrying the tag; ``ratings`` those rated with one of the scores.

`filters_from` reads them from text by the names the CLI's flags and the HTTP API's query
parameters share (``since``, ``until``, ``topic``, ``agent``, ``tag``, ``rating``, ``after``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from chatserver.store.snapshots import Cursor, Filters

from .errors import BadRequest

__all__ = ["filters_from", "parse_cursor", "parse_ratings", "parse_when"]

_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def parse_when(text: str, name: str = "time") -> str:
    """``2026-05-01``, ``2026-05-01T12:00:00Z`` (any ISO 8601 with an offset or ``Z``) or a
    relative ``7d``/``12h`` (that long before now) as the store's ISO 8601 UTC form."""
    raw = text.strip()
    if re.fullmatch(r"\d{1,5}[dh]", raw):
        amount = int(raw[:-1])
        delta = timedelta(days=amount) if raw.endswith("d") else timedelta(hours=amount)
        moment = datetime.now(UTC) - delta
    else:
        try:
            if _DATE.match(raw):
                moment = datetime.fromisoformat(raw).replace(tzinfo=UTC)
            else:
                moment = datetime.fromisoformat(raw)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
        except ValueError:
            raise BadRequest(
                f"{name} {text!r}: expected a date (2026-05-01), an ISO 8601 time"
                " (2026-05-01T12:00:00Z) or a span before now (7d, 12h)"
            ) from None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ratings(text: str) -> frozenset[int]:
    """``5``, ``1-2``, ``1,2,5``: the scores (1..5) to keep."""
    scores: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"([1-5])(?:-([1-5]))?", part)
        if match is None:
            raise BadRequest(f"rating {text!r}: expected scores 1..5 such as 5, 1-2 or 1,2,5")
        low = int(match[1])
        high = int(match[2]) if match[2] else low
        if high < low:
            raise BadRequest(f"rating {part!r}: the range must go up (1-2, not 2-1)")
        scores.update(range(low, high + 1))
    return frozenset(scores)


def parse_cursor(text: str) -> Cursor:
    """A cursor printed by an export (``v1.1234.0`` on SQLite, ``pg1.1234.0`` on PostgreSQL);
    which store may take it is the store's to say (`chatserver.store.BadSelection`)."""
    try:
        return Cursor.parse(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def filters_from(values: Mapping[str, str | None]) -> Filters:
    """`Filters` from their text forms by name (query parameters, or the CLI's flags); a
    missing or empty value sets no filter."""

    def text(name: str) -> str | None:
        value = values.get(name)
        return value if value else None

    since, until = text("since"), text("until")
    rating, after = text("rating"), text("after")
    return Filters(
        since=parse_when(since, "since") if since else None,
        until=parse_when(until, "until") if until else None,
        topic=text("topic"),
        agent=text("agent"),
        tag=text("tag"),
        ratings=parse_ratings(rating) if rating else None,
        after=parse_cursor(after) if after else None,
    )
