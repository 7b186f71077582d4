"""The figures analysts read: one `summary` for the CLI report, the HTML page, the HTTP API
and the dashboard's charts (they all call this function, or `series` for the same figures per
hour or day; ``docs/analytics.md`` defines each figure). A summary's groups (`groups.Tally`)
come from the rollups for the clean whole days of its period and from the conversations' rows
for the rest (`rollups.tally`); each group's figures are `groups.Group`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from chatserver.store.base import iso_now
from chatserver.store.snapshots import Filters, ReadSnapshot

from . import rollups
from .groups import Group, percentile
from .redact import Redactor
from .terms import pain_terms

__all__ = ["Group", "buckets", "percentile", "series", "summary"]

#: A time series' unit: its buckets are UTC hours (2026-05-01T14) or days (2026-05-01) of arrival.
Unit = Literal["hour", "day"]


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
    redactor = Redactor(snapshot.key("pseudonym")) if terms else None
    tally, counts = rollups.tally(snapshot, filters, redactor)
    total, by_topic, by_agent, by_day = tally.total, tally.by_topic, tally.by_agent, tally.by_day
    tags = total.tags
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
            "first_conversation_at": total.first_at,
            "last_conversation_at": total.last_at,
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
    if redactor is not None and counts is not None:
        result["pain_terms"] = pain_terms(
            snapshot, filters, redactor, counts, top=top_terms, examples=examples
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
    groups: dict[str, Group]
    if unit == "day":
        groups = rollups.tally(snapshot, filters)[0].by_day
    else:
        groups = rollups.hourly(snapshot, filters)
    suffix = ":00:00Z" if unit == "hour" else "T00:00:00Z"
    return [
        {"key": key, "start": key + suffix, **(groups[key] if key in groups else Group()).figures()}
        for key in buckets(filters.since, filters.until, unit)
    ]
