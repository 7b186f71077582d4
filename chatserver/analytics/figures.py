"""The figures analysts read: one `summary` for the CLI report, the HTML page, the HTTP API
and the dashboard's charts (they all call this function, or `series` for the same figures per
hour or day; ``docs/analytics.md`` defines each figure).

Per conversation (from its row and its events):

- *served*: it has an ``assigned`` event; *first assigned* is the first one's time.
- *wait* = first assigned − arrival (``created_at``), for served conversations.
- *first response* = first agent message − arrival.
- *handle time* = ``closed_at`` − first assigned, for closed served conversations.
- *abandoned*: closed without any ``assigned`` event (the visitor left the queue).
- *transfers*: its ``transfer`` events.

Percentiles are nearest-rank: p of n sorted values is the value at rank ⌈p/100 · n⌉.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import orjson

from chatserver.store.base import iso_now
from chatserver.store.snapshots import FigureRow, Filters, ReadSnapshot

from .redact import Redactor
from .rows import duration_ms
from .terms import pain_terms

__all__ = ["Group", "buckets", "percentile", "series", "summary"]

#: A time series' unit: its bucket key is the arrival time cut to this many characters.
Unit = Literal["hour", "day"]
_KEY_LENGTH = {"hour": 13, "day": 10}  # 2026-05-01T14 · 2026-05-01


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _stats(values: list[float]) -> dict[str, Any]:
    values.sort()
    return {
        "count": len(values),
        "mean": sum(values) / len(values) if values else None,
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Group:
    """The figures of a set of conversations, added one at a time."""

    __slots__ = (
        "abandoned", "closed", "conversations", "first_responses", "handles", "ratings",
        "served", "transferred", "transfers", "waits",
    )  # fmt: skip

    def __init__(self) -> None:
        self.conversations = self.closed = self.served = self.abandoned = 0
        self.transfers = self.transferred = 0
        self.waits: list[float] = []
        self.first_responses: list[float] = []
        self.handles: list[float] = []
        self.ratings = [0, 0, 0, 0, 0]

    def add(self, row: FigureRow) -> None:
        self.conversations += 1
        closed = row.status == "closed"
        self.closed += closed
        if row.first_assigned_at is not None:
            self.served += 1
            self.waits.append(_seconds(duration_ms(row.created_at, row.first_assigned_at)))
            if closed and row.closed_at is not None:
                self.handles.append(_seconds(duration_ms(row.first_assigned_at, row.closed_at)))
        elif closed:
            self.abandoned += 1
        if row.first_response_at is not None:
            self.first_responses.append(
                _seconds(duration_ms(row.created_at, row.first_response_at))
            )
        if row.transfers:
            self.transfers += row.transfers
            self.transferred += 1
        if row.rating is not None and 1 <= row.rating <= 5:
            self.ratings[row.rating - 1] += 1

    def figures(self) -> dict[str, Any]:
        rated = sum(self.ratings)
        score_sum = sum((i + 1) * n for i, n in enumerate(self.ratings))
        return {
            "conversations": self.conversations,
            "closed": self.closed,
            "served": self.served,
            "abandoned": self.abandoned,
            "abandonment_rate": _ratio(self.abandoned, self.closed),
            "wait_s": _stats(self.waits),
            "first_response_s": _stats(self.first_responses),
            "handle_s": _stats(self.handles),
            "transfers": {
                "total": self.transfers,
                "conversations": self.transferred,
                "rate": _ratio(self.transferred, self.served),
            },
            "csat": {
                "rated": rated,
                "average": score_sum / rated if rated else None,
                "distribution": {str(i + 1): n for i, n in enumerate(self.ratings)},
                "response_rate": _ratio(rated, self.closed),
                "satisfied_share": _ratio(self.ratings[3] + self.ratings[4], rated),
            },
        }


def _seconds(ms: int | None) -> float:
    assert ms is not None
    return ms / 1000


def _days(keys: Iterable[str]) -> list[str]:
    """Every day from the first to the last of ``keys`` (so a chart has no holes)."""
    ordered = sorted(keys)
    if not ordered:
        return []
    first, last = date.fromisoformat(ordered[0]), date.fromisoformat(ordered[-1])
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def summary(
    snapshot: ReadSnapshot,
    filters: Filters,
    *,
    terms: bool = True,
    top_tags: int = 10,
    top_terms: int = 12,
    examples: int = 2,
) -> dict[str, Any]:
    """Every figure for the conversations ``filters`` selects, as JSON-ready data."""
    agents = snapshot.agents()
    total = Group()
    by_topic: defaultdict[str, Group] = defaultdict(Group)
    by_agent: defaultdict[str, Group] = defaultdict(Group)
    by_day: defaultdict[str, Group] = defaultdict(Group)
    tags: Counter[str] = Counter()
    first_seen: str | None = None
    last_seen: str | None = None
    for row in snapshot.figure_rows(filters):
        total.add(row)
        by_topic[row.topic].add(row)
        by_day[row.created_at[:10]].add(row)
        if row.last_agent_id is not None and row.first_assigned_at is not None:
            by_agent[row.last_agent_id].add(row)
        tags.update(set(orjson.loads(row.tags)))
        first_seen = first_seen or row.created_at
        last_seen = row.created_at
    agent_rows = []
    for agent_id, group in by_agent.items():
        info = agents.get(agent_id)
        agent_rows.append(
            {
                "key": info.username if info else agent_id,
                "display_name": info.display_name if info else agent_id,
                **group.figures(),
            }
        )
    agent_rows.sort(key=lambda r: (-r["conversations"], r["key"]))
    topic_rows = [{"key": k, **g.figures()} for k, g in by_topic.items()]
    topic_rows.sort(key=lambda r: (-r["conversations"], r["key"]))
    day_rows = [
        {"key": d, **(by_day[d] if d in by_day else Group()).figures()} for d in _days(by_day)
    ]
    result: dict[str, Any] = {
        "generated_at": iso_now(),
        "snapshot": str(snapshot.cursor),
        "filters": filters.describe(),
        "period": {
            "since": filters.since,
            "until": filters.until,
            "first_conversation_at": first_seen,
            "last_conversation_at": last_seen,
        },
        "totals": total.figures(),
        "by_topic": topic_rows,
        "by_agent": agent_rows,
        "by_day": day_rows,
        "tags": [
            {"tag": tag, "count": n, "share": n / total.conversations}
            for tag, n in sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:top_tags]
        ],
    }
    if terms:
        redactor = Redactor(snapshot.key("pseudonym"))
        result["pain_terms"] = pain_terms(
            snapshot, filters, redactor, top=top_terms, examples=examples
        )
    return result


def _start_of(moment: datetime, unit: Unit) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if unit == "day" else moment


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def buckets(since: str, until: str, unit: Unit) -> list[str]:
    """The keys of every hour (``2026-05-01T14``) or day (``2026-05-01``) that overlaps the
    period [since, until) — both in the store's ISO 8601 UTC form —, oldest first."""
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    moment, end = _start_of(_parse(since), unit), _parse(until)
    keys: list[str] = []
    while moment < end:
        keys.append(moment.strftime("%Y-%m-%dT%H" if unit == "hour" else "%Y-%m-%d"))
        moment += step
    return keys


def series(snapshot: ReadSnapshot, filters: Filters, unit: Unit) -> list[dict[str, Any]]:
    """Every figure (as in `summary`) per UTC hour or day of arrival, for every bucket of the
    period — ``filters.since`` and ``filters.until`` are required — empty ones included, so a
    chart has no holes. Each row is ``{key, start, **figures}``; ``start`` is the bucket's
    first instant (``2026-05-01T14:00:00Z``). The dashboard's charts are these rows."""
    if filters.since is None or filters.until is None:
        raise ValueError("a series needs a period: filters.since and filters.until")
    size = _KEY_LENGTH[unit]
    groups: defaultdict[str, Group] = defaultdict(Group)
    for row in snapshot.figure_rows(filters):
        groups[row.created_at[:size]].add(row)
    suffix = ":00:00Z" if unit == "hour" else "T00:00:00Z"
    return [
        {"key": key, "start": key + suffix, **(groups[key] if key in groups else Group()).figures()}
        for key in buckets(filters.since, filters.until, unit)
    ]
