"""Rollups: the figures of whole past days, kept per day × topic × agent, so a summary over
months adds up a few hundred cells instead of reading a million rows (``docs/analytics.md``,
"Rollups"; the store's side is `chatserver.store.rollups`).

A day's cells are `Group` dumps: one per (topic, agent who last held the served
conversations), one per topic, one per agent and one for the whole day (``''`` stands for
"every"). `tally` answers a summary's groups: from the cells for each *clean* whole day of the
period (built from a snapshot that saw every change to it), from the conversations' rows for
the rest — the period's partial first and last days, today, and any day changed since it was
built. The rows and the cells go through the same `Group`, so the figures are the same
whichever way a day was read (tests/analytics/test_rollups.py compares them).

`refresh` builds what a snapshot says needs building (the hub runs it every
``CHATSERVER_ROLLUP_INTERVAL_S``); `rebuild` builds every day again (``chatserver analytics
rebuild``, after a change to how cells are made).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Protocol

import orjson

from chatserver.store.base import iso_now
from chatserver.store.rollups import RollupCell
from chatserver.store.snapshots import Filters, ReadSnapshot, SnapshotSource

from .groups import Group, Tally
from .redact import Redactor
from .terms import HIGH, LOW, TermCounts, redacted_texts

__all__ = ["Parts", "RefreshResult", "build_day", "keep", "parts", "rebuild", "refresh", "tally"]

log = logging.getLogger(__name__)

_MIDNIGHT = "T00:00:00.000Z"


def _start(day: str) -> str:
    return day + _MIDNIGHT


def _next(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _first_whole_day(since: str | None) -> str | None:
    """The first day that starts at or after ``since``."""
    if since is None:
        return None
    day = since[:10]
    return day if _start(day) >= since else _next(day)


def _end_of_whole_days(until: str | None) -> str | None:
    """The day after the last day that ends at or before ``until``."""
    return None if until is None else until[:10]


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
    """How a summary reads its period: the clean whole days from the cells, the ``ranges``
    around them (each a `Filters` with the summary's other filters) from the rows."""

    days: list[str]
    ranges: list[Filters]


def parts(snapshot: ReadSnapshot, filters: Filters) -> Parts:
    days: list[str] = []
    if _usable(filters):
        first, end = _first_whole_day(filters.since), _end_of_whole_days(filters.until)
        if first is None or end is None or first < end:
            days = snapshot.rollup_days(first, end)
    ranges = [
        replace(filters, since=since, until=until)
        for since, until in _raw_ranges(filters.since, filters.until, days)
    ]
    return Parts(days, ranges)


def tally(
    snapshot: ReadSnapshot, filters: Filters, redactor: Redactor | None = None
) -> tuple[Tally, TermCounts | None]:
    """The summary's groups for ``filters`` — cells for the clean whole days, rows for the
    rest — and, given the ``redactor``, the term counts of what visitors wrote (`pain_terms`)."""
    plan = parts(snapshot, filters)
    result = Tally()
    terms = TermCounts() if redactor is not None else None
    for part in plan.ranges:
        for row in snapshot.figure_rows(part):
            result.add(row)
        if terms is not None and redactor is not None:
            for cid, rating, text in redacted_texts(snapshot, part, LOW | HIGH, redactor):
                terms.add(cid, rating, text)
    if plan.days:
        _add_cells(snapshot, result, terms, plan.days, filters.topic)
    return result, terms


def _raw_ranges(
    since: str | None, until: str | None, days: list[str]
) -> list[tuple[str | None, str | None]]:
    """The parts of [since, until) outside the ``days`` (sorted, each inside the period)."""
    ranges: list[tuple[str | None, str | None]] = []
    cursor = since
    for day in days:
        start = _start(day)
        if cursor is None or cursor < start:
            ranges.append((cursor, start))
        cursor = _start(_next(day))
    if cursor is None or until is None or cursor < until:
        ranges.append((cursor, until))
    return ranges


def _add_cells(
    snapshot: ReadSnapshot,
    result: Tally,
    terms: TermCounts | None,
    days: list[str],
    topic: str | None,
) -> None:
    wanted = set(days)
    first, end = days[0], _next(days[-1])
    for day, agent, text in snapshot.rollup_cells(first, end, topic or ""):
        if day not in wanted:
            continue
        data = orjson.loads(text)
        cell = Group.load(data)
        if agent:
            result.by_agent[agent].merge(cell)
            continue
        result.total.merge(cell)
        result.by_day[day] = cell
        if topic is not None:
            result.by_topic[topic].merge(cell)
        if terms is not None:
            terms.merge(TermCounts.load(data["terms"]))
    if topic is None:
        for day, name, text in snapshot.rollup_topic_cells(first, end):
            if day in wanted:
                result.by_topic[name].merge(Group.load(orjson.loads(text)))


# --- building ---------------------------------------------------------------------------------


def build_day(snapshot: ReadSnapshot, day: str) -> list[RollupCell]:
    """The cells of ``day`` from the conversations' rows, as ``snapshot`` sees them: the
    figures of each (topic, agent), topic, agent and the whole day; the cells of every agent
    (``agent = ''``) also hold the term counts of what visitors wrote."""
    finest: dict[tuple[str, str], Group] = {}
    topic_of: dict[str, str] = {}
    period = Filters(since=_start(day), until=_start(_next(day)))
    for row in snapshot.figure_rows(period):
        agent = row.last_agent_id if row.first_assigned_at is not None else None
        key = (row.topic, agent or "")
        group = finest.get(key)
        if group is None:
            group = finest[key] = Group()
        group.add(row, set(orjson.loads(row.tags)))
        topic_of[row.id] = row.topic
    if not finest:
        return []
    redactor = Redactor(snapshot.key("pseudonym"))
    terms: defaultdict[str, TermCounts] = defaultdict(TermCounts)
    whole_terms = TermCounts()
    for cid, rating, text in redacted_texts(snapshot, period, LOW | HIGH, redactor):
        terms[topic_of[cid]].add(cid, rating, text)
        whole_terms.add(cid, rating, text)
    by_topic: defaultdict[str, Group] = defaultdict(Group)
    by_agent: defaultdict[str, Group] = defaultdict(Group)
    whole = Group()
    cells: list[RollupCell] = []

    def cell(topic: str, agent: str, group: Group, counts: TermCounts | None = None) -> None:
        data = group.dump()
        if counts is not None:
            data["terms"] = counts.dump()
        cells.append(RollupCell(topic, agent, orjson.dumps(data).decode()))

    for (topic, agent), group in sorted(finest.items()):
        by_topic[topic].merge(group)
        whole.merge(group)
        if agent:
            by_agent[agent].merge(group)
            cell(topic, agent, group)
    for topic, group in sorted(by_topic.items()):
        cell(topic, "", group, terms[topic])
    for agent, group in sorted(by_agent.items()):
        cell("", agent, group)
    cell("", "", whole, whole_terms)
    return cells


class Writer(SnapshotSource, Protocol):
    """What building needs of a store: snapshots to read, somewhere to put a day's cells."""

    async def put_rollup_day(
        self, day: str, version: int | None, cells: Sequence[RollupCell], *, ts: str
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a round built: the days built, how many of them are clean now (a day changed
    while it was built stays marked, to be built again), and how many are left."""

    built: int
    clean: int
    left: int
    seconds: float


Planned = list[tuple[str, int | None, list[RollupCell]]]


def _build_some(source: SnapshotSource, days: list[str] | None, limit: int) -> tuple[Planned, int]:
    """In one snapshot: the cells of ``days`` (None: what the snapshot says needs building, the
    oldest ``limit`` of it), each with the version of its mark; and how many are left."""
    with source.snapshot() as snapshot:
        todo = snapshot.rollup_todo()
        marked = dict(todo.days)
        if days is None:
            chosen = [day for day, _ in todo.days[:limit]]
            left = len(todo.days) - len(chosen)
        else:
            chosen, left = days, 0
        return [(day, marked.get(day), build_day(snapshot, day)) for day in chosen], left


async def _put(store: Writer, planned: Planned) -> int:
    clean = 0
    for day, version, cells in planned:
        clean += await store.put_rollup_day(day, version, cells, ts=iso_now())
    return clean


async def refresh(store: Writer, *, limit: int = 31) -> RefreshResult:
    """Build the oldest ``limit`` days that need it (the snapshot's work in a worker thread)."""
    started = time.monotonic()
    planned, left = await asyncio.to_thread(_build_some, store, None, limit)
    clean = await _put(store, planned)
    return RefreshResult(len(planned), clean, left, time.monotonic() - started)


def _every_day(source: SnapshotSource) -> list[str]:
    with source.snapshot() as snapshot:
        todo = snapshot.rollup_todo()
        built = snapshot.rollup_days(None, todo.cutoff)
        return sorted({*built, *(day for day, _ in todo.days)})


async def rebuild(store: Writer, *, chunk: int = 31) -> RefreshResult:
    """Build every day before the cutoff again, ``chunk`` days per snapshot."""
    started = time.monotonic()
    days = await asyncio.to_thread(_every_day, store)
    clean = 0
    for i in range(0, len(days), chunk):
        planned, _ = await asyncio.to_thread(_build_some, store, days[i : i + chunk], chunk)
        clean += await _put(store, planned)
    return RefreshResult(len(days), clean, 0, time.monotonic() - started)


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
