"""Rollups (issue #23): a summary adds up the cells of the clean whole days of its period and
reads the rows only for the rest, and its figures are the same as from the rows alone — after a
build, after changes to days already built (marked by the database, read raw until built
again), after a purge and a deletion request, on both stores. The percentiles of the merged
histograms stay within 1 % of the exact nearest-rank ones."""

from __future__ import annotations

import asyncio
import math
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.analytics import rollups
from chatserver.analytics.figures import series, summary
from chatserver.analytics.groups import percentile
from chatserver.analytics.sample import SampleData, generate
from chatserver.analytics.sketch import ACCURACY, Durations, bucket_of, value_of
from chatserver.store import (
    ConversationRecord,
    Filters,
    NewEvent,
    ReadSnapshot,
    RollupUnit,
    Store,
    VisitorRecord,
    open_store,
)
from chatserver.store.postgres.copy_in import copy_from_sqlite
from tests.analytics.helpers import snapshot_of
from tests.analytics.test_facts import random_filters, sample_iso
from tests.chatserver.integration.conftest import PASSWORD, add_agent
from tests.chatserver.store.conftest import STORES, backend
from tests.conftest import POSTGRES_TEMPLATE
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]

# --- the histogram --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-5_000, 5_000), st.integers(0, 10**9), st.sampled_from([0, 1, 2, 999])
        ),
        min_size=1,
        max_size=300,
    ),
    st.integers(1, 6),
)
def test_percentiles_are_within_the_accuracy_however_the_values_are_split(
    values: list[int], parts: int
) -> None:
    whole = Durations()
    pieces = [Durations() for _ in range(parts)]
    for i, v in enumerate(values):
        whole.add(v)
        pieces[i % parts].add(v)
    merged = Durations()
    for piece in pieces:
        merged.merge(Durations.load(piece.dump()))
    assert merged.dump()[:2] == whole.dump()[:2] and merged.buckets == whole.buckets
    exact: list[float] = sorted(values)
    for p, got in zip((50, 90, 99), merged.percentiles((50, 90, 99)), strict=True):
        want = percentile(exact, p)
        assert want is not None and got is not None
        assert abs(got - want) <= ACCURACY * abs(want) + 1e-9, (p, got, want)
    stats = merged.stats()
    assert stats["count"] == len(values)
    assert stats["mean"] == pytest.approx(sum(values) / len(values) / 1000)


def test_buckets_keep_the_order_of_the_values() -> None:
    values = [-(10**7), -1000, -2, -1, 0, 1, 2, 3, 50, 51, 1000, 1001, 10**9]
    keys = [bucket_of(v) for v in values]
    assert keys == sorted(keys)
    assert value_of(bucket_of(0)) == 0.0
    for v in values:
        assert abs(value_of(bucket_of(v)) - v) <= ACCURACY * abs(v)


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert Durations().stats() == {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None}


# --- a store ending yesterday -----------------------------------------------------------------


class RowsOnly:
    """The snapshot as `summary` reads it, with no clean day: every figure from the rows."""

    def __init__(self, snap: ReadSnapshot) -> None:
        self._snap = snap

    def rollup_periods(self, first: str | None, end: str | None, *, hours: bool) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snap, name)


def same_as_rows(snap: ReadSnapshot, filters: Filters, terms: bool = False) -> None:
    got = summary(snap, filters, terms=terms)
    want = summary(RowsOnly(snap), filters, terms=terms)
    for figures in (got, want):
        figures.pop("generated_at")
    assert got == want, filters
    if filters.since is not None and filters.until is not None and filters.since < filters.until:
        for unit in ("day", "hour"):
            assert series(snap, filters, unit) == series(RowsOnly(snap), filters, unit), unit


def whole_days(rng: random.Random, data: SampleData) -> Filters:
    """A period of whole days (the cells' best case), maybe with a topic."""
    first = rng.randrange(data.days)
    last = rng.randrange(first + 1, data.days + 2)
    start = date.fromisoformat(sample_iso(data.start_ms)[:10])
    topics = sorted({c.topic for c in data.conversations})
    return Filters(
        since=f"{start + timedelta(days=first)}T00:00:00.000Z",
        until=f"{start + timedelta(days=last)}T00:00:00.000Z",
        topic=rng.choice(topics) if rng.random() < 0.4 else None,
    )


def check(url: str, data: SampleData, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    with snapshot_of(url) as snap:
        same_as_rows(snap, Filters(), terms=True)
        for topic in sorted({c.topic for c in data.conversations}):
            same_as_rows(snap, Filters(topic=topic))
        for i in range(rounds):
            f = whole_days(rng, data) if i % 2 else random_filters(rng, data, snap)
            if i % 3 == 0:  # a period and a topic only: what the cells answer
                f = Filters(since=f.since, until=f.until, topic=f.topic)
            same_as_rows(snap, f, terms=i % 4 == 1)


@pytest.fixture(scope="module")
def recent_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    """3,000 conversations over the 20 days that ended yesterday (never modified)."""
    start = datetime.now(UTC).date() - timedelta(days=21)
    path = tmp_path_factory.mktemp("rollups") / "chat.db"
    return generate(path, conversations=3000, days=20, seed=29, start=start.isoformat())


@pytest.fixture(params=STORES, ids=backend)
def url(request: pytest.FixtureRequest, recent_sample: SampleData, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the sample in each store, its rollups not built yet."""
    if "{postgresql}" in str(request.param):
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"rollups_{tmp_path.name[-20:].replace('-', '_').lower()}"
        target = server.create_database(name, template=POSTGRES_TEMPLATE)
        copy_from_sqlite(recent_sample.path, target)
        yield target
    else:
        copy = tmp_path / "chat.db"
        copy.write_bytes(recent_sample.path.read_bytes())
        yield str(copy)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_store(url: str, work: Any) -> Any:
    async with open_store(url) as store:
        return await work(store)


def build(url: str, *, everything: bool = False) -> rollups.RefreshResult:
    async def go(store: Store) -> rollups.RefreshResult:
        if everything:
            return await rollups.rebuild(store)
        return await rollups.refresh(store, limit=1000)

    result: rollups.RefreshResult = run(_with_store(url, go))
    return result


def clean_days(url: str) -> list[str]:
    with snapshot_of(url) as snap:
        return snap.rollup_periods(None, None, hours=False)


def clean_hours(url: str) -> list[str]:
    with snapshot_of(url) as snap:
        return snap.rollup_periods(None, None, hours=True)


def past_days(data: SampleData) -> list[str]:
    return sorted({sample_iso(c.created_ms)[:10] for c in data.conversations})


def test_nothing_is_built_until_asked_and_the_rows_answer_meanwhile(
    url: str, recent_sample: SampleData
) -> None:
    assert clean_days(url) == []
    with snapshot_of(url) as snap:
        todo = snap.rollup_todo()
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H")
    assert todo.cutoff in {
        hour_ago,
        (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H"),
    }
    assert {unit.period for unit in todo.units} >= set(past_days(recent_sample))
    assert all(unit.period < todo.cutoff for unit in todo.units)
    check(url, recent_sample, rounds=6, seed=1)


def test_figures_from_the_cells_equal_the_rows(url: str, recent_sample: SampleData) -> None:
    result = build(url)
    assert result.built >= recent_sample.days and result.clean == result.built and not result.left
    assert set(clean_days(url)) >= set(past_days(recent_sample))
    assert {h[:10] for h in clean_hours(url)} >= set(past_days(recent_sample))
    assert build(url).built == 0  # nothing left to do
    check(url, recent_sample, rounds=40, seed=2)


def test_a_change_to_a_built_day_is_read_from_the_rows_until_it_is_built_again(
    url: str, recent_sample: SampleData
) -> None:
    build(url)
    ordered = sorted(recent_sample.conversations, key=lambda c: c.created_ms)
    conv = next(c for c in ordered[len(ordered) // 2 :] if c.rating != 1)
    with snapshot_of(url) as snap:
        ones = summary(snap, Filters(), terms=False)["totals"]["csat"]["distribution"]["1"]
    day = sample_iso(conv.created_ms)[:10]
    before = clean_days(url)
    assert day in before

    async def change(store: Store) -> None:
        await store.update_conversation(conv.id, rating=1, tags=["late-change"])
        await store.append_many(
            [
                NewEvent(
                    conv.id,
                    "note",
                    {"text": "looked again"},
                    sample_iso(conv.created_ms + 1),
                    "agent",
                    None,
                    "QA",
                    None,
                )
            ]
        )

    hours = clean_hours(url)
    run(_with_store(url, change))
    assert clean_days(url) == [d for d in before if d != day]
    assert clean_hours(url) == [h for h in hours if h != sample_iso(conv.created_ms)[:13]]
    with snapshot_of(url) as snap:
        got = summary(snap, Filters(), terms=False)["totals"]["csat"]["distribution"]["1"]
        assert got == ones + 1
    check(url, recent_sample, rounds=10, seed=3)
    result = build(url)
    assert result.built == 1 and result.clean == 1
    assert clean_days(url) == before
    check(url, recent_sample, rounds=10, seed=4)


def test_a_change_the_builder_did_not_see_keeps_the_day_marked(
    url: str, recent_sample: SampleData
) -> None:
    build(url)
    conv = recent_sample.conversations[7]
    day = sample_iso(conv.created_ms)[:10]

    async def race(store: Store) -> bool:
        await store.update_conversation(conv.id, rating=2)  # marks the day
        with store.snapshot() as snap:
            (unit,) = [u for u in snap.rollup_todo().units if u.period == day]
            assert unit.marks
            cells, built = rollups.build(snap, unit)
        await store.update_conversation(conv.id, rating=5)  # after the builder's snapshot
        return await store.put_rollup(unit, cells, built, ts=sample_iso(conv.created_ms))

    assert run(_with_store(url, race)) is False
    assert day not in clean_days(url)
    check(url, recent_sample, rounds=4, seed=5)
    assert build(url).clean == 1 and day in clean_days(url)


def test_two_processes_building_the_same_unit_at_once_both_succeed(
    url: str, recent_sample: SampleData
) -> None:
    """Hubs see the same work: two builds of one unit, each in a store (and connections) of
    its own, racing to replace the same cells (as a rebuild does: no marks) — neither fails,
    the cells are there once."""
    build(url)
    day = past_days(recent_sample)[3]

    async def race() -> list[bool]:
        async with open_store(url) as one, open_store(url) as two:
            with one.snapshot() as snap:
                unit = RollupUnit(day, ())
                cells, built = rollups.build(snap, unit)
            ts = sample_iso(recent_sample.start_ms)
            return list(
                await asyncio.gather(
                    one.put_rollup(unit, cells, built, ts=ts),
                    two.put_rollup(unit, cells, built, ts=ts),
                )
            )

    assert run(race()) == [True, True]
    assert day in clean_days(url)
    with snapshot_of(url) as snap:
        cells = snap.rollup_cells(day, day + "~", "", hours=False)
        assert len(cells) == len({agent for _, agent, _ in cells}) > 1
    check(url, recent_sample, rounds=4, seed=10)


def test_purge_and_forget_visitor_keep_the_figures_right(
    url: str, recent_sample: SampleData
) -> None:
    build(url)
    ordered = sorted(recent_sample.conversations, key=lambda c: c.created_ms)
    visitor = ordered[len(ordered) // 3].visitor_id
    forgotten_days = {sample_iso(c.created_ms)[:10] for c in ordered if c.visitor_id == visitor}
    cutoff = sample_iso(ordered[len(ordered) // 4].created_ms)

    with snapshot_of(url) as snap:
        before = summary(snap, Filters(), terms=False)["totals"]["conversations"]

    async def delete(store: Store) -> tuple[int, int]:
        forgot = await store.forget_visitor(visitor, ts=cutoff, actor="test")
        purged = await store.purge_closed_before(cutoff, ts=cutoff, actor="test")
        return forgot.conversations, purged.conversations

    forgot, purged = run(_with_store(url, delete))
    assert forgot >= 1 and purged > 100
    dirty = set(past_days(recent_sample)) - set(clean_days(url))
    assert forgotten_days <= dirty
    with snapshot_of(url) as snap:  # nothing derived from what the visitor wrote is left
        for day in forgotten_days:
            assert snap.rollup_cells(day, day + "~", "", hours=False) == []
        hours = {sample_iso(c.created_ms)[:13] for c in ordered if c.visitor_id == visitor}
        for hour in hours:
            assert snap.rollup_cells(hour, hour + "~", "", hours=True) == []
    with snapshot_of(url) as snap:
        total = summary(snap, Filters(), terms=False)["totals"]["conversations"]
        assert total == before - forgot - purged == snap.count(Filters())
    check(url, recent_sample, rounds=10, seed=6)
    build(url)
    assert set(clean_days(url)) >= set(past_days(recent_sample))
    with snapshot_of(url) as snap:
        assert summary(snap, Filters(), terms=False)["totals"]["conversations"] == total
    check(url, recent_sample, rounds=10, seed=7)


def test_a_visitor_who_gives_another_name_marks_the_days_of_their_conversations(
    url: str, recent_sample: SampleData
) -> None:
    """What they wrote redacts differently: the term counts of those days must be built again."""
    build(url)
    conv = next(c for c in recent_sample.conversations if c.rating in (1, 2))
    days = {
        sample_iso(c.created_ms)[:10]
        for c in recent_sample.conversations
        if c.visitor_id == conv.visitor_id
    }

    async def rename(store: Store) -> None:
        await store.update_visitor(conv.visitor_id, name="Zebulon Quartermaine")

    run(_with_store(url, rename))
    assert not days & set(clean_days(url))
    check(url, recent_sample, rounds=4, seed=9)
    build(url)
    assert days <= set(clean_days(url))


def test_rebuild_builds_every_day_again(url: str, recent_sample: SampleData) -> None:
    build(url)
    result = build(url, everything=True)
    with snapshot_of(url) as snap:
        cutoff_day = snap.rollup_todo().cutoff[:10]
    days = clean_days(url)
    assert len(days) >= recent_sample.days
    # every day before the cutoff's, then each past hour of the cutoff's day
    assert result.built == len(days) + sum(h.startswith(cutoff_day) for h in clean_hours(url))
    check(url, recent_sample, rounds=6, seed=8)


def test_the_current_hour_is_never_marked_and_past_hours_of_today_are_built(url: str) -> None:
    build(url)
    now = datetime.now(UTC)
    current = now.strftime("%Y-%m-%dT%H")
    with snapshot_of(url) as snap:
        agent = next(iter(snap.agents()))
        cutoff = snap.rollup_todo().cutoff
    past = (datetime.fromisoformat(cutoff + ":00:00+00:00") - timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H"
    )

    async def add(store: Store) -> None:
        for name, hour in (("now", current), ("past", past)):
            stamp = f"{hour}:00:01.000Z"
            await store.add_visitor(VisitorRecord(f"v-{name}", f"h-{name}", "default", stamp))
            await store.add_conversation(
                ConversationRecord(f"c-{name}", f"v-{name}", "default", "billing", "en",
                                   "queued", stamp)
            )  # fmt: skip
            await store.update_conversation(f"c-{name}", last_agent_id=agent, rating=1)

    run(_with_store(url, add))
    with snapshot_of(url) as snap:
        todo = snap.rollup_todo()
        assert all(unit.period < cutoff for unit in todo.units)
        assert current not in {unit.period for unit in todo.units}
        # the past hour: a unit of its own while its day is not over, else its day
        unit = past if past[:10] == cutoff[:10] else past[:10]
        assert unit in {u.period for u in todo.units}
    build(url)
    with snapshot_of(url) as snap:
        assert current not in snap.rollup_periods(None, None, hours=True)
        assert past in snap.rollup_periods(None, None, hours=True)
        assert snap.rollup_todo().units == []
        period = Filters(since=f"{past}:00:00.000Z")
        got = summary(snap, period, terms=False)
        assert got["totals"]["conversations"] == 2
        assert got == {
            **summary(RowsOnly(snap), period, terms=False),
            "generated_at": got["generated_at"],
        }


# --- the command --------------------------------------------------------------------------


def test_the_rebuild_command(recent_sample: SampleData, tmp_path: Path) -> None:
    (tmp_path / "chat.db").write_bytes(recent_sample.path.read_bytes())
    command = [sys.executable, "-m", "chatserver", "analytics", "rebuild", "--data", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    days = len(clean_days(str(tmp_path / "chat.db")))
    assert days >= recent_sample.days
    assert done.stdout.startswith(f"built the rollups of {days:,} days and "), done.stdout
    pending = subprocess.run(
        [*command, "--pending"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert pending.returncode == 0
    assert pending.stdout.startswith("built the rollups of 0 days and 0 hours"), pending.stdout
    missing = subprocess.run(
        [*command[:-1], str(tmp_path / "nothing-here")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "no transcript store" in missing.stderr
    assert math.isfinite(float(done.stdout.split(" in ")[1].split(" s")[0]))


# --- the hub builds them --------------------------------------------------------------------


async def test_the_hub_builds_the_rollups_and_the_summary_stays_the_same(
    recent_sample: SampleData, tmp_path: Path, redis_server: RedisServer
) -> None:
    (tmp_path / "chat.db").write_bytes(recent_sample.path.read_bytes())
    await add_agent(tmp_path, "ana", roles=("analyst",))
    server = ServerProcess(tmp_path, redis_server.url, env={"CHATSERVER_ROLLUP_INTERVAL_S": "0.5"})
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as c:
            r = await c.post("/api/v1/auth/login", json={"username": "ana", "password": PASSWORD})
            bearer = {"Authorization": f"Bearer {r.json()['token']}"}
            deadline = time.monotonic() + 60
            while not set(past_days(recent_sample)) <= set(clean_days(str(tmp_path / "chat.db"))):
                assert time.monotonic() < deadline, server.output()
                await asyncio.sleep(0.2)
            assert "rollups built" in server.output()
            r = await c.get("/api/v1/analytics/summary", params={"terms": "false"}, headers=bearer)
            assert r.status_code == 200
            got = r.json()
    finally:
        server.stop()
    with snapshot_of(tmp_path / "chat.db") as snap:
        want = summary(RowsOnly(snap), Filters(), terms=False)
    for figures in (got, want):
        figures.pop("generated_at")
    assert got == want
