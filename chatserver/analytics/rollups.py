"""Rollups: the figures of past days and hours, kept per period × topic × agent, so a summary
over months adds up a few thousand cells instead of reading a million rows
(``docs/analytics.md``, "Rollups"; the store's side is `chatserver.store.rollups`).

A period's cells are `Group` dumps: one per (topic, agent who last held the served
conversations), one per topic, one per agent and one for every conversation (``''`` stands
for "every"; that last kind also holds the term counts of what visitors wrote). `tally`
answers a summary's groups: from the cells of each *clean* whole day of the period, then of
each clean whole hour (built from a snapshot that saw every change to it), and from the
conversations' rows for the rest — the period's partial edge hours, the last hour or two, and
any hour changed since it was built. The rows and the cells go through the same `Group`, so
the figures are the same whichever way an hour was read (tests/analytics/test_rollups.py
compares them). `hourly` does the same per hour, for the dashboard's chart.

`refresh` builds what a snapshot says needs building (the hub runs it every
``CHATSERVER_ROLLUP_INTERVAL_S``, `keep`); `rebuild` builds everything again (``chatserver
analytics rebuild``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol

import orjson

from chatserver.store.base import iso_now
from chatserver.store.rollups import RollupCell, RollupUnit
from chatserver.store.snapshots import FigureRow, Filters, ReadSnapshot, SnapshotSource

from .groups import Group, Tally
from .redact import Redactor
from .terms import HIGH, LOW, TermCounts, redacted_texts, tokens

__all__ = [
    "Parts",
    "RefreshResult",
    "build",
    "hourly",
    "keep",
    "parts",
    "rebuild",
    "refresh",
    "tally",
]

log = logging.getLogger(__name__)

_ZERO = ":00:00.000Z"


def _start(period: str) -> str:
    """The first instant of a day (``2026-05-01``) or an hour (``2026-05-01T14``)."""
    return period + ("T00" if len(period) == 10 else "") + _ZERO


def _next(period: str) -> str:
    """The day or hour after ``period``."""
    if len(period) == 10:
        return (date.fromisoformat(period) + timedelta(days=1)).isoformat()
    moment = datetime.fromisoformat(period + ":00:00+00:00") + timedelta(hours=1)
    return moment.strftime("%Y-%m-%dT%H")


def _first_whole(since: str | None, size: int) -> str | None:
    """The first day (``size`` 10) or hour (13) that starts at or after ``since``."""
    if since is None:
        return None
    period = since[:size]
    return period if _start(period) >= since else _next(period)


def _usable(filters: Filters) -> bool:
    """Cells answer a period and a topic; any other filter reads the rows."""
    return (
        filters.agent is None
        and filters.tag is None
        and filters.ratings is None
        and (filters.after is None)
    )


@dataclass(frozen=True, slots=True)
class Parts:
    """How a summary reads its period: the clean whole days and then the clean whole hours
    from the cells, the ``ranges`` around them (each a `Filters` with the summary's other
    filters) from the rows."""

    days: list[str]
    hours: list[str]
    ranges: list[Filters]


def _clean(snapshot: ReadSnapshot, filters: Filters, size: int) -> list[str]:
    first, end = _first_whole(filters.since, size), None
    if filters.until is not None:
        end = filters.until[:size]
    if first is not None and end is not None and first >= end:
        return []
    return snapshot.rollup_periods(first, end, hours=size == 13)


def parts(snapshot: ReadSnapshot, filters: Filters, *, days: bool = True) -> Parts:
    """Which days (if ``days``) and hours of the period come from cells, which ranges from rows."""
    chosen_days: list[str] = []
    chosen_hours: list[str] = []
    if _usable(filters):
        chosen_days = _clean(snapshot, filters, 10) if days else []
        whole = set(chosen_days)
        chosen_hours = [h for h in _clean(snapshot, filters, 13) if h[:10] not in whole]
    chosen = sorted(chosen_days + chosen_hours, key=_start)
    ranges = [
        replace(filters, since=since, until=until)
        for since, until in _raw_ranges(filters.since, filters.until, chosen)
    ]
    return Parts(chosen_days, chosen_hours, ranges)


def _raw_ranges(
    since: str | None, until: str | None, periods: list[str]
) -> list[tuple[str | None, str | None]]:
    """The parts of [since, until) outside the ``periods`` (by start, each inside it)."""
    ranges: list[tuple[str | None, str | None]] = []
    cursor = since
    for period in periods:
        start = _start(period)
        if cursor is None or cursor < start:
            ranges.append((cursor, start))
        cursor = _start(_next(period))
    if cursor is None or until is None or cursor < until:
        ranges.append((cursor, until))
    return ranges


def tally(
    snapshot: ReadSnapshot, filters: Filters, redactor: Redactor | None = None
) -> tuple[Tally, TermCounts | None]:
    """The summary's groups for ``filters`` — cells for the clean whole days and hours, rows
    for the rest — and, given the ``redactor``, the term counts of what visitors wrote
    (`pain_terms`)."""
    plan = parts(snapshot, filters)
    result = Tally()
    terms = TermCounts() if redactor is not None else None
    for part in plan.ranges:
        for row in snapshot.figure_rows(part):
            result.add(row)
        if terms is not None and redactor is not None:
            for cid, rating, text in redacted_texts(snapshot, part, LOW | HIGH, redactor):
                terms.add(cid, rating, text)
    for periods, hours in ((plan.days, False), (plan.hours, True)):
        if periods:
            _add_cells(snapshot, result, terms, periods, filters.topic, hours)
    return result, terms


def _add_cells(
    snapshot: ReadSnapshot,
    result: Tally,
    terms: TermCounts | None,
    periods: list[str],
    topic: str | None,
    hours: bool,
) -> None:
    wanted = set(periods)
    first, end = periods[0], _next(periods[-1])
    for period, agent, text in snapshot.rollup_cells(first, end, topic or "", hours=hours):
        if period not in wanted:
            continue
        data = orjson.loads(text)
        cell = Group.load(data)
        if agent:
            result.by_agent[agent].merge(cell)
            continue
        result.total.merge(cell)
        result.by_day[period[:10]].merge(cell)
        if topic is not None:
            result.by_topic[topic].merge(cell)
        if terms is not None:
            terms.merge(TermCounts.load(data["terms"]))
    if topic is None:
        for period, name, text in snapshot.rollup_topic_cells(first, end, hours=hours):
            if period in wanted:
                result.by_topic[name].merge(Group.load(orjson.loads(text)))


def hourly(snapshot: ReadSnapshot, filters: Filters) -> dict[str, Group]:
    """The groups of `tally` per UTC hour of arrival (``2026-05-01T14``): cells for the clean
    whole hours, rows for the rest."""
    plan = parts(snapshot, filters, days=False)
    groups: defaultdict[str, Group] = defaultdict(Group)
    for part in plan.ranges:
        for row in snapshot.figure_rows(part):
            groups[row.created_at[:13]].add(row)
    if plan.hours:
        wanted = set(plan.hours)
        first, end = plan.hours[0], _next(plan.hours[-1])
        topic = filters.topic or ""
        for period, agent, text in snapshot.rollup_cells(first, end, topic, hours=True):
            if period in wanted and not agent:
                groups[period].merge(Group.load(orjson.loads(text)))
    return groups


# --- building ---------------------------------------------------------------------------------


class _Cells:
    """The cells of one period being built: per (topic, agent), topic, agent and all."""

    def __init__(self) -> None:
        self.finest: dict[tuple[str, str], Group] = {}
        self.terms: defaultdict[str, TermCounts] = defaultdict(TermCounts)
        self.all_terms = TermCounts()

    def add(self, row: FigureRow, key: tuple[str, str], tags: set[str]) -> None:
        group = self.finest.get(key)
        if group is None:
            group = self.finest[key] = Group()
        group.add(row, tags)

    def words(self, cid: str, rating: int, topic: str, words: list[str]) -> None:
        self.terms[topic].add_words(cid, rating, words)
        self.all_terms.add_words(cid, rating, words)

    def cells(self, period: str) -> list[RollupCell]:
        by_topic: defaultdict[str, Group] = defaultdict(Group)
        by_agent: defaultdict[str, Group] = defaultdict(Group)
        whole = Group()
        out: list[RollupCell] = []

        def cell(topic: str, agent: str, group: Group, counts: TermCounts | None = None) -> None:
            data = group.dump()
            if counts is not None:
                data["terms"] = counts.dump()
            out.append(RollupCell(period, topic, agent, orjson.dumps(data).decode()))

        for (topic, agent), group in sorted(self.finest.items()):
            by_topic[topic].merge(group)
            whole.merge(group)
            if agent:
                by_agent[agent].merge(group)
                cell(topic, agent, group)
        for topic, group in sorted(by_topic.items()):
            cell(topic, "", group, self.terms[topic])
        for agent, group in sorted(by_agent.items()):
            cell("", agent, group)
        cell("", "", whole, self.all_terms)
        return out


def build(snapshot: ReadSnapshot, unit: RollupUnit) -> tuple[list[RollupCell], list[str]]:
    """The cells of ``unit`` (a day: its cells and every hour's; an hour: its own) from the
    conversations' rows as ``snapshot`` sees them, and the periods it builds. The cells of
    every agent (``agent = ''``) also hold the term counts of what visitors wrote."""
    period = unit.period
    is_day = len(period) == 10
    span = Filters(since=_start(period), until=_start(_next(period)))
    day = _Cells()
    hours: defaultdict[str, _Cells] = defaultdict(_Cells)
    where: dict[str, tuple[str, str]] = {}  # conversation -> (hour, topic)
    for row in snapshot.figure_rows(span):
        agent = row.last_agent_id if row.first_assigned_at is not None else None
        key = (row.topic, agent or "")
        tags = set(orjson.loads(row.tags))
        hour = row.created_at[:13]
        hours[hour].add(row, key, tags)
        if is_day:
            day.add(row, key, tags)
        where[row.id] = (hour, row.topic)
    if where:
        redactor = Redactor(snapshot.key("pseudonym"))
        for cid, rating, text in redacted_texts(snapshot, span, LOW | HIGH, redactor):
            hour, topic = where[cid]
            words = tokens(text)
            hours[hour].words(cid, rating, topic, words)
            if is_day:
                day.words(cid, rating, topic, words)
    cells: list[RollupCell] = []
    built = [period]
    if is_day:
        if where:
            cells += day.cells(period)
        built += [f"{period}T{h:02d}" for h in range(24)]
    for hour, found in sorted(hours.items()):
        cells += found.cells(hour)
    return cells, built


class Writer(SnapshotSource, Protocol):
    """What building needs of a store: snapshots to read, somewhere to put the cells."""

    async def put_rollup(
        self, unit: RollupUnit, cells: Sequence[RollupCell], built: Sequence[str], *, ts: str
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a round built: the units built (days, or hours of a day not over), how many of
    them are clean now (one changed while it was built stays marked, to be built again), and
    how many are left."""

    built: int
    clean: int
    left: int
    seconds: float
    #: Of ``built``: the hours (of a day not over yet); the rest are days.
    hours: int = 0


Planned = list[tuple[RollupUnit, list[RollupCell], list[str]]]


def _build_some(
    source: SnapshotSource, periods: list[str] | None, limit: int
) -> tuple[Planned, int]:
    """In one snapshot: what ``periods`` need (None: what the snapshot says needs building, the
    oldest ``limit`` units of it), each with the marks the snapshot saw; and how many are left."""
    with source.snapshot() as snapshot:
        todo = snapshot.rollup_todo()
        if periods is None:
            chosen = todo.units[:limit]
            left = len(todo.units) - len(chosen)
        else:
            marks = {unit.period: unit.marks for unit in todo.units}
            chosen = [RollupUnit(p, marks.get(p, ())) for p in periods]
            left = 0
        return [(unit, *build(snapshot, unit)) for unit in chosen], left


async def _put(store: Writer, planned: Planned) -> int:
    clean = 0
    for unit, cells, built in planned:
        clean += await store.put_rollup(unit, cells, built, ts=iso_now())
    return clean


async def refresh(store: Writer, *, limit: int = 31) -> RefreshResult:
    """Build the oldest ``limit`` units that need it (the snapshot's work in a worker thread)."""
    started = time.monotonic()
    planned, left = await asyncio.to_thread(_build_some, store, None, limit)
    clean = await _put(store, planned)
    hours = sum(len(unit.period) == 13 for unit, _, _ in planned)
    return RefreshResult(len(planned), clean, left, time.monotonic() - started, hours)


def _every_unit(source: SnapshotSource) -> list[str]:
    with source.snapshot() as snapshot:
        todo = snapshot.rollup_todo()
        cutoff_day = todo.cutoff[:10]
        built = snapshot.rollup_periods(None, cutoff_day, hours=False)
        hours = snapshot.rollup_periods(cutoff_day, todo.cutoff, hours=True)
        return sorted({*built, *hours, *(unit.period for unit in todo.units)}, key=_start)


async def rebuild(store: Writer, *, chunk: int = 31) -> RefreshResult:
    """Build every unit before the cutoff again, ``chunk`` per snapshot."""
    started = time.monotonic()
    periods = await asyncio.to_thread(_every_unit, store)
    clean = 0
    for i in range(0, len(periods), chunk):
        planned, _ = await asyncio.to_thread(_build_some, store, periods[i : i + chunk], chunk)
        clean += await _put(store, planned)
    hours = sum(len(period) == 13 for period in periods)
    return RefreshResult(len(periods), clean, 0, time.monotonic() - started, hours)


async def keep(store: Writer, interval: float, closing: Callable[[], bool]) -> None:
    """What a hub runs while it serves (``CHATSERVER_ROLLUP_INTERVAL_S``): `refresh` every
    ``interval`` seconds, jittered so that hubs started together do not build the same day at
    once (two that do write the same cells); a round that left days for later is followed by
    the next at once, a failure waits for the next interval. Ends once ``closing()``."""
    delay = interval * random.uniform(0.1, 0.6)
    while not closing():
        await asyncio.sleep(delay)
        delay = interval * random.uniform(0.8, 1.2)
        try:
            result = await refresh(store)
        except asyncio.CancelledError:
            raise
        except Exception:
            if not closing():
                log.exception("building the rollups failed")
            continue
        if result.built:
            log.info(
                "rollups built",
                extra={
                    "days": result.built,
                    "clean": result.clean,
                    "left": result.left,
                    "seconds": round(result.seconds, 3),
                },
            )
        if result.left:
            delay = 0.0
