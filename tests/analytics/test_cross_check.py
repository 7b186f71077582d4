"""The cross-check: the same generated data in both stores gives the same figures, the same
export bytes in every format and shape, the same digests and seals, and the same incremental
exports — a few thousand conversations, generated on SQLite and copied into PostgreSQL
(`copy_from_sqlite`), read through each store's own read model."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chatserver.analytics.export import FORMATS, SHAPES
from chatserver.analytics.figures import series, summary
from chatserver.analytics.filters import parse_when
from chatserver.analytics.sample import SampleData, generate
from chatserver.analytics.verify import verify_file
from chatserver.store import Filters, open_store
from chatserver.store.postgres.copy_in import copy_from_sqlite
from chatserver.web.dashboard_figures import agents_data, charts_data
from tests.conftest import POSTGRES_TEMPLATE
from tests.support.postgres_server import PostgresServer

from .helpers import export_bytes, jsonl, snapshot_of

CONVERSATIONS = 3_000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    path = tmp_path_factory.mktemp("cross") / "chat.db"
    return generate(path, conversations=CONVERSATIONS, days=14, seed=29)


@pytest.fixture(scope="module")
def both(generated: SampleData, postgres_server: PostgresServer) -> dict[str, str]:
    """The generated store on each backend (read only): name → what `open_store` opens."""
    url = postgres_server.create_database("cross_check", template=POSTGRES_TEMPLATE)
    copied = copy_from_sqlite(generated.path, url)
    assert copied["conversations"] == CONVERSATIONS
    assert copied["events"] == sum(len(c.events) for c in generated.conversations)
    return {"sqlite": str(generated.path), "postgresql": url}


def _same(both: dict[str, str], **kwargs: Any) -> bytes:
    sqlite, postgresql = (export_bytes(source, **kwargs) for source in both.values())
    assert sqlite[0] == postgresql[0], kwargs
    counts = [
        (s.conversations, s.messages, s.events, s.bytes)
        for s in (sqlite[1].stats, postgresql[1].stats)
    ]
    assert counts[0] == counts[1]
    return sqlite[0]


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "unredacted"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_and_shape_is_the_same_bytes(
    both: dict[str, str], fmt: str, shape: str, redact: bool, tmp_path: Path
) -> None:
    data = _same(both, fmt=fmt, shape=shape, redact=redact)
    assert len(data) > 10_000
    # The same digests and seals: each store's key checks the other's file.
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(data)
    for source in both.values():
        with snapshot_of(source) as snap:
            result = verify_file(path, snap.key("seal"))
        assert result.ok and result.conversations == CONVERSATIONS, result.problems[:3]
        assert result.seals_checked == CONVERSATIONS


@pytest.mark.parametrize(
    "filters",
    [
        Filters(topic="billing"),
        Filters(tag="refund"),
        Filters(ratings=frozenset({1, 2})),
        Filters(agent="nina"),
        Filters(since="2026-03-04T00:00:00.000Z", until="2026-03-06T12:00:00.000Z"),
        Filters(topic="technical", ratings=frozenset({4, 5}), tag="bug"),
    ],
    ids=["topic", "tag", "ratings", "agent", "period", "combined"],
)
def test_filtered_exports_are_the_same_bytes(both: dict[str, str], filters: Filters) -> None:
    for fmt, shape in (("jsonl", "messages"), ("csv", "messages"), ("csv", "conversations")):
        data = _same(both, fmt=fmt, shape=shape, filters=filters)
        assert data or filters.tag == "bug", (fmt, shape, filters)


def _figures(source: str, filters: Filters) -> dict[str, Any]:
    with snapshot_of(source) as snap:
        result = summary(snap, filters)
        hours = series(snap, Filters(since="2026-03-03T00:00:00.000Z",
                                     until="2026-03-05T00:00:00.000Z"), "hour")  # fmt: skip
        days = series(snap, Filters(since=parse_when("2026-03-01"),
                                    until=parse_when("2026-03-20")), "day")  # fmt: skip
    # What differs by design: when it was computed, and the cursor (each store's own kind).
    assert str(result.pop("snapshot")).startswith(("v1.", "pg1."))
    result.pop("generated_at")
    return {"summary": result, "hours": hours, "days": days}


@pytest.mark.parametrize(
    "filters", [Filters(), Filters(topic="account", ratings=frozenset({1, 2, 3}))]
)
def test_the_figures_are_the_same(both: dict[str, str], filters: Filters) -> None:
    sqlite, postgresql = (_figures(source, filters) for source in both.values())
    assert sqlite["summary"]["totals"]["conversations"] > 0
    assert sqlite == postgresql


def test_the_dashboards_charts_and_agent_table_are_the_same(both: dict[str, str]) -> None:
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    stores = [open_store(source) for source in both.values()]
    charts = [charts_data(store, 48, 14, now) for store in stores]
    agents = [agents_data(store, "2026-03-01T00:00:00.000Z", None) for store in stores]
    assert sum(r["conversations"] for r in charts[0]["days"]["rows"]) > 0
    assert charts[0] == charts[1]
    assert agents[0]["agents"] and agents[0] == agents[1]


async def _more(source: str, old: str, recent: str) -> None:
    """The same changes made to each store: a late message in an old conversation, a note in
    a recent one."""
    async with open_store(source) as store:
        await store.append(old, "message", {"text": "one more thing: 555-0100"},
                           ts="2026-03-20T10:00:00.000Z", actor_role="visitor")  # fmt: skip
        await store.append(recent, "note", {"text": "followed up"}, ts="2026-03-20T10:00:01.000Z",
                           actor_role="agent", actor_name="Nina")  # fmt: skip


def test_incremental_exports_are_the_same_bytes(
    generated: SampleData, postgres_url: str, tmp_path: Path
) -> None:
    sqlite = tmp_path / "chat.db"
    shutil.copyfile(generated.path, sqlite)
    copy_from_sqlite(generated.path, postgres_url)
    sources = {"sqlite": str(sqlite), "postgresql": postgres_url}
    cursors = {name: export_bytes(source)[1].cursor for name, source in sources.items()}
    old, recent = generated.conversations[7].id, generated.conversations[-1].id
    for source in sources.values():
        asyncio.run(_more(source, old, recent))
    after = {
        name: export_bytes(source, "jsonl", filters=Filters(after=cursors[name]))[0]
        for name, source in sources.items()
    }
    assert after["sqlite"] == after["postgresql"]
    ids = [d["conversation"]["conversation_id"] for d in jsonl(after["sqlite"])]
    assert ids == [old, recent]
