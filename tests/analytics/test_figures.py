"""Every figure of `summary` against what this test works out on its own from the generator's
description of the store (`SampleData`), with its own percentile and grouping code."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from chatserver.analytics.figures import buckets, series, summary
from chatserver.analytics.filters import parse_when
from chatserver.analytics.sample import SampleConversation, SampleData
from chatserver.analytics.sketch import ACCURACY
from chatserver.store import Filters
from tests.analytics.helpers import snapshot_of


def nearest_rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = math.ceil(p * len(ordered) / 100)
    return ordered[max(k, 1) - 1]


def expected(convs: list[SampleConversation]) -> dict[str, Any]:
    waits = [(c.first_assigned_ms - c.created_ms) / 1000 for c in convs if c.first_assigned_ms]
    frts = [(c.first_response_ms - c.created_ms) / 1000 for c in convs if c.first_response_ms]
    handles = [
        (c.closed_ms - c.first_assigned_ms) / 1000
        for c in convs
        if c.first_assigned_ms and c.closed_ms is not None
    ]
    closed = [c for c in convs if c.status == "closed"]
    abandoned = [c for c in closed if c.first_assigned_ms is None]
    rated = [c.rating for c in convs if c.rating is not None]
    served = [c for c in convs if c.first_assigned_ms is not None]
    return {
        "conversations": len(convs),
        "closed": len(closed),
        "served": len(served),
        "abandoned": len(abandoned),
        "abandonment_rate": len(abandoned) / len(closed) if closed else None,
        "wait": [nearest_rank(waits, p) for p in (50, 90, 99)],
        "wait_mean": sum(waits) / len(waits) if waits else None,
        "frt": [nearest_rank(frts, p) for p in (50, 90, 99)],
        "handle": [nearest_rank(handles, p) for p in (50, 90, 99)],
        "transfers": sum(c.transfers for c in convs),
        "transferred": sum(1 for c in convs if c.transfers),
        "rated": len(rated),
        "csat": sum(rated) / len(rated) if rated else None,
        "distribution": {str(s): rated.count(s) for s in range(1, 6)},
        "response_rate": len(rated) / len(closed) if closed else None,
    }


def check(figures: dict[str, Any], want: dict[str, Any]) -> None:
    assert figures["conversations"] == want["conversations"]
    assert figures["closed"] == want["closed"]
    assert figures["served"] == want["served"]
    assert figures["abandoned"] == want["abandoned"]
    assert figures["abandonment_rate"] == pytest.approx(want["abandonment_rate"])
    for key, name in (("wait_s", "wait"), ("first_response_s", "frt"), ("handle_s", "handle")):
        got = [figures[key]["p50"], figures[key]["p90"], figures[key]["p99"]]
        # Nearest-rank over log buckets: within ACCURACY of the exact value (docs/analytics.md).
        assert got == [w if w is None else pytest.approx(w, rel=ACCURACY) for w in want[name]], key
    assert figures["wait_s"]["mean"] == pytest.approx(want["wait_mean"])
    assert figures["transfers"]["total"] == want["transfers"]
    assert figures["transfers"]["conversations"] == want["transferred"]
    csat = figures["csat"]
    assert csat["rated"] == want["rated"]
    assert csat["average"] == pytest.approx(want["csat"])
    assert csat["distribution"] == want["distribution"]
    assert csat["response_rate"] == pytest.approx(want["response_rate"])


@pytest.fixture(scope="module")
def result(sample: SampleData, sample_url: str) -> dict[str, Any]:
    with snapshot_of(sample_url) as snap:
        return summary(snap, Filters())


def test_the_generated_store_is_realistic(sample: SampleData) -> None:
    convs = sample.conversations
    assert len(convs) == 600
    assert {c.topic for c in convs} == {"general", "billing", "account", "technical"}
    assert {c.language for c in convs} == {"en", "es", "ar", "zh"}
    assert any(c.abandoned for c in convs) and any(c.transfers for c in convs)
    assert sum(c.rating is not None for c in convs) > 200
    assert sum(bool(c.pii) for c in convs) > 150


def test_totals(sample: SampleData, result: dict[str, Any]) -> None:
    check(result["totals"], expected(sample.conversations))


def test_by_topic(sample: SampleData, result: dict[str, Any]) -> None:
    rows = {r["key"]: r for r in result["by_topic"]}
    assert set(rows) == {c.topic for c in sample.conversations}
    for topic, row in rows.items():
        check(row, expected([c for c in sample.conversations if c.topic == topic]))


def test_by_agent_is_the_agent_who_last_held_it(sample: SampleData, result: dict[str, Any]) -> None:
    rows = {r["key"]: r for r in result["by_agent"]}
    for agent_id, (username, display) in sample.agents.items():
        mine = [c for c in sample.conversations if c.last_agent_id == agent_id]
        assert rows[username]["display_name"] == display
        check(rows[username], expected(mine))


def test_by_day_covers_every_day(sample: SampleData, result: dict[str, Any]) -> None:
    days = [r["key"] for r in result["by_day"]]
    assert len(days) == sample.days and days == sorted(days)
    for row in result["by_day"]:
        mine = [
            c
            for c in sample.conversations
            if time.strftime("%Y-%m-%d", time.gmtime(c.created_ms // 1000)) == row["key"]
        ]
        check(row, expected(mine))


def test_tags_most_used(sample: SampleData, result: dict[str, Any]) -> None:
    counts = Counter(t for c in sample.conversations for t in set(c.tags))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(t["tag"], t["count"]) for t in result["tags"]] == top


def test_filters_period_topic_and_agent(sample: SampleData, sample_url: str) -> None:
    since, until = parse_when("2026-03-05"), parse_when("2026-03-09")
    agent_id, (username, _) = next(iter(sample.agents.items()))
    with snapshot_of(sample_url) as snap:
        got = summary(
            snap, Filters(since=since, until=until, topic="billing", agent=username), terms=False
        )
    lo = int(datetime(2026, 3, 5, tzinfo=UTC).timestamp()) * 1000
    hi = lo + 4 * 86_400_000
    mine = [
        c
        for c in sample.conversations
        if lo <= c.created_ms < hi and c.topic == "billing" and agent_id in c.agents
    ]
    assert mine
    check(got["totals"], expected(mine))
    assert "pain_terms" not in got


def test_an_empty_selection_has_no_figures_but_does_not_fail(
    sample: SampleData, sample_url: str
) -> None:
    with snapshot_of(sample_url) as snap:
        got = summary(snap, Filters(topic="nothing-here"))
    assert got["totals"]["conversations"] == 0
    assert got["totals"]["wait_s"]["p50"] is None
    assert got["totals"]["csat"]["average"] is None
    assert got["by_day"] == [] and got["pain_terms"]["terms"] == []


# --- time series (the dashboard's charts) -------------------------------------------------


def _utc(ms: int, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(ms // 1000))


def test_hourly_series_has_every_hour_and_each_hours_figures(
    sample: SampleData, sample_url: str
) -> None:
    # A 30-hour window that starts mid-hour: the first bucket is the hour holding `since`,
    # but only arrivals from `since` on count in it.
    lo_ms = sample.start_ms + 3 * 86_400_000 + 25 * 60_000
    hi_ms = lo_ms + 30 * 3_600_000
    since = _utc(lo_ms, "%Y-%m-%dT%H:%M:%S.000Z")
    until = _utc(hi_ms, "%Y-%m-%dT%H:%M:%S.000Z")
    with snapshot_of(sample_url) as snap:
        rows = series(snap, Filters(since=since, until=until), "hour")
    assert len(rows) == 31  # 30 h from a point 25 min into an hour touch 31 hours
    assert rows[0]["key"] == _utc(lo_ms, "%Y-%m-%dT%H")
    assert rows[0]["start"] == _utc(lo_ms, "%Y-%m-%dT%H:00:00Z")
    inside = [c for c in sample.conversations if lo_ms <= c.created_ms < hi_ms]
    assert sum(r["conversations"] for r in rows) == len(inside) > 0
    for row in rows:
        mine = [c for c in inside if _utc(c.created_ms, "%Y-%m-%dT%H") == row["key"]]
        check(row, expected(mine))


def test_daily_series_has_every_day_even_empty_ones(sample: SampleData, sample_url: str) -> None:
    first = _utc(sample.start_ms, "%Y-%m-%d")
    # From two days before the first conversation: those days are present and empty.
    lo = datetime.fromisoformat(first).replace(tzinfo=UTC).timestamp() - 2 * 86_400
    since = time.strftime("%Y-%m-%dT00:00:00.000Z", time.gmtime(lo))
    until = time.strftime("%Y-%m-%dT00:00:00.000Z", time.gmtime(lo + 9 * 86_400))
    with snapshot_of(sample_url) as snap:
        rows = series(snap, Filters(since=since, until=until, topic="billing"), "day")
    assert len(rows) == 9
    assert [r["conversations"] for r in rows[:2]] == [0, 0]
    assert rows[0]["csat"]["average"] is None and rows[0]["wait_s"]["p90"] is None
    for row in rows:
        mine = [
            c
            for c in sample.conversations
            if c.topic == "billing" and _utc(c.created_ms, "%Y-%m-%d") == row["key"]
        ]
        check(row, expected(mine))
        assert row["start"] == row["key"] + "T00:00:00Z"


def test_a_series_needs_a_period(sample: SampleData, sample_url: str) -> None:
    with snapshot_of(sample_url) as snap, pytest.raises(ValueError, match="needs a period"):
        series(snap, Filters(since=parse_when("2026-03-05")), "hour")


def test_buckets_cover_the_period_half_open() -> None:
    assert buckets("2026-03-05T22:30:00.000Z", "2026-03-06T01:00:00.000Z", "hour") == [
        "2026-03-05T22",
        "2026-03-05T23",
        "2026-03-06T00",
    ]
    assert buckets("2026-03-05T00:00:00.000Z", "2026-03-05T00:00:00.000Z", "day") == []
    assert buckets("2026-02-27T10:00:00.000Z", "2026-03-01T00:00:00.001Z", "day") == [
        "2026-02-27",
        "2026-02-28",
        "2026-03-01",
    ]
