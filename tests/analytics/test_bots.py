"""A bot's conversations in the figures, the rollups and the export, on both stores: the
bot-resolved and the handed-over ones are counted apart, a bot-resolved one is not abandoned,
and a handed-over conversation's wait counts from its handoff, not its arrival."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatserver.analytics import rollups
from chatserver.analytics.errors import BadRequest
from chatserver.analytics.figures import series, summary
from chatserver.analytics.groups import Group
from chatserver.analytics.report import render_html, render_text
from chatserver.analytics.rows import CONVERSATION_COLUMNS
from chatserver.analytics.verify import verify_file
from chatserver.store import AgentRecord, Filters, open_store
from tests.analytics.bot_seed import BOT_ID, Seeded, seed
from tests.analytics.helpers import csv_rows, export_bytes, jsonl, snapshot_of
from tests.chatserver.store.conftest import STORES, backend, store_url

START = datetime(2026, 3, 10, 10, 0, 0)
DAY = Filters(since="2026-03-10T00:00:00.000Z", until="2026-03-11T00:00:00.000Z")


@pytest.fixture(params=STORES, ids=backend)
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Seeded]:
    """A store holding `bot_seed.seed`'s five conversations of 2026-03-10, rollups not built."""
    url = store_url(request, tmp_path)

    async def write() -> Seeded:
        async with open_store(url) as store:
            await store.add_agent(
                AgentRecord("a-nina", "nina", "Nina Park", "x", {"billing": 3}, 2, ("agent",),
                            "2026-03-01T00:00:00.000Z")
            )  # fmt: skip
            return await seed(store, START, "a-nina", "Nina Park")

    return url, asyncio.run(write())


def _figures(url: str) -> dict[str, Any]:
    with snapshot_of(url) as snap:
        return summary(snap, DAY, terms=False)


def _build_everything(url: str) -> None:
    async def run() -> None:
        async with open_store(url) as store:
            await rollups.rebuild(store)

    asyncio.run(run())


def test_the_figures_count_bots_apart_and_wait_from_the_handoff(
    seeded: tuple[str, Seeded],
) -> None:
    url, ids = seeded
    result = _figures(url)
    totals = result["totals"]
    assert totals["conversations"] == 5
    assert totals["bots"] == {
        "conversations": 3, "resolved": 1, "handed_over": 1, "resolution_rate": 0.5,
    }  # fmt: skip
    # The bot-resolved one is closed and unassigned, but nobody left a queue.
    assert (totals["closed"], totals["served"], totals["abandoned"]) == (4, 2, 1)
    assert totals["abandonment_rate"] == 0.25
    topics = {r["key"]: r for r in result["by_topic"]}
    billing = topics["billing"]["wait_s"]  # the handed-over conversation alone
    assert billing["count"] == 1
    assert billing["mean"] == ids.handed_over_wait_s  # not 150 s from its arrival
    assert topics["account"]["wait_s"]["mean"] == ids.served_wait_s
    # A person's first reply, from the handoff too (5 s after the assignment): the bot's own
    # messages are not a first response, so the bot-only topic has none.
    assert topics["billing"]["first_response_s"]["mean"] == ids.handed_over_wait_s + 5
    assert topics["account"]["first_response_s"]["mean"] == ids.served_wait_s + 5
    assert not topics["general"]["first_response_s"] or (
        topics["general"]["first_response_s"]["count"] == 0
    )
    assert totals["wait_s"]["mean"] == (ids.handed_over_wait_s + ids.served_wait_s) / 2
    assert topics["general"]["bots"]["conversations"] == 2
    assert topics["general"]["bots"]["resolved"] == 1
    assert topics["general"]["abandoned"] == 0
    assert (
        topics["technical"]["abandoned"] == 1 and topics["technical"]["bots"]["conversations"] == 0
    )
    # The agent's row: the handed-over conversation counts as handed over there too.
    (nina,) = result["by_agent"]
    assert nina["bots"]["handed_over"] == 1 and nina["conversations"] == 2
    # The day's and the hour's series carry the same counts.
    with snapshot_of(url) as snap:
        (day,) = series(snap, DAY, "day")
        hours = series(snap, DAY, "hour")
    assert day["bots"] == totals["bots"]
    assert sum(h["bots"]["handed_over"] for h in hours) == 1
    # The report shows them.
    html = render_html(result)
    assert "Bot conversations" in html and "1 bot-resolved · 1 handed over" in html
    assert "bots                      3   resolved 1 · handed over 1" in render_text(result)


def test_rollups_hold_the_bot_counts_and_the_handoff_wait(seeded: tuple[str, Seeded]) -> None:
    url, ids = seeded
    from_rows = _figures(url)
    _build_everything(url)
    with snapshot_of(url) as snap:
        assert "2026-03-10" in snap.rollup_periods(None, None, hours=False)
        cells = snap.rollup_cells("2026-03-10", "2026-03-11", "", hours=False)
    whole = next(orjson.loads(cell) for _, agent, cell in cells if agent == "")
    assert whole["v"] == 2 and whole["bots"] == [3, 1, 1]
    from_cells = _figures(url)
    for result in (from_rows, from_cells):
        result.pop("generated_at")
        result.pop("snapshot")
    assert from_cells == from_rows
    assert (
        from_cells["totals"]["wait_s"]["mean"] == (ids.handed_over_wait_s + ids.served_wait_s) / 2
    )


def test_a_cell_of_version_1_still_reads_with_no_bots() -> None:
    """A rollup built before bots (no ``bots`` key, version 1) is read as it was."""
    old = Group().dump()
    old["v"] = 1
    del old["bots"]
    old["n"] = [7, 5, 4, 1, 2, 1]
    group = Group.load(old)
    figures = group.figures()
    assert (figures["conversations"], figures["abandoned"]) == (7, 1)
    assert figures["bots"] == {
        "conversations": 0, "resolved": 0, "handed_over": 0, "resolution_rate": None,
    }  # fmt: skip
    with pytest.raises(ValueError, match="rebuild"):
        Group.load({**old, "v": 3})


def test_the_export_carries_the_bot_and_the_handoff(seeded: tuple[str, Seeded]) -> None:
    url, ids = seeded
    data, _ = export_bytes(url, "jsonl")
    docs = {d["conversation"]["conversation_id"]: d["conversation"] for d in jsonl(data)}
    handed = docs[ids.handed_over]
    assert handed["bot_id"] == BOT_ID
    assert handed["handed_over_at"] == "2026-03-10T10:02:20.000Z"
    assert handed["metrics"]["wait_s"] == ids.handed_over_wait_s
    assert docs[ids.served]["bot_id"] is None and docs[ids.served]["handed_over_at"] is None
    assert docs[ids.served]["metrics"]["wait_s"] == ids.served_wait_s
    resolved = docs[ids.resolved]
    assert resolved["bot_id"] == BOT_ID and resolved["handed_over_at"] is None
    assert resolved["metrics"]["abandoned"] is False
    assert docs[ids.abandoned]["metrics"]["abandoned"] is True

    data, _ = export_bytes(url, "csv", "conversations")
    header = data.decode().split("\r\n", 1)[0].split(",")
    # The new columns come last: a reader by position still finds every old one.
    assert tuple(header) == CONVERSATION_COLUMNS
    assert header[-2:] == ["bot_id", "handed_over_at"] and header[-3] == "seal"
    rows = {r["conversation_id"]: r for r in csv_rows(data)}
    assert rows[ids.handed_over]["bot_id"] == BOT_ID
    assert rows[ids.handed_over]["handed_over_at"] == "2026-03-10T10:02:20.000Z"
    assert rows[ids.handed_over]["wait_s"] == "30.0"
    assert rows[ids.served]["bot_id"] == "" and rows[ids.served]["handed_over_at"] == ""


def test_parquet_has_the_columns_last(seeded: tuple[str, Seeded], tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # the test extra installs it: a missing pyarrow fails here

    url, ids = seeded
    data, _ = export_bytes(url, "parquet", "conversations")
    path = tmp_path / "c.parquet"
    path.write_bytes(data)
    table = pq.read_table(path)
    assert tuple(table.column_names) == CONVERSATION_COLUMNS
    rows = {r["conversation_id"]: r for r in table.to_pylist()}
    handed = rows[ids.handed_over]
    assert handed["bot_id"] == BOT_ID
    assert handed["handed_over_at"].isoformat() == "2026-03-10T10:02:20+00:00"
    assert handed["wait_s"] == ids.handed_over_wait_s
    assert rows[ids.served]["handed_over_at"] is None


def test_verify_reads_conversation_files_from_before_the_new_columns(
    seeded: tuple[str, Seeded], tmp_path: Path
) -> None:
    """A conversations CSV exported before bot_id and handed_over_at (the same file without
    its last two columns) still verifies; a file cut anywhere else is not an export."""
    url, _ = seeded
    data, _ = export_bytes(url, "csv", "conversations")
    with snapshot_of(url) as snap:
        key = snap.key("seal")
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    for name, cut in (("now", rows), ("before", [r[:-2] for r in rows])):
        path = tmp_path / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\r\n").writerows(cut)
        result = verify_file(path, key)
        assert result.ok and result.conversations == 5, (name, result)
    odd = tmp_path / "odd.csv"
    with odd.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\r\n").writerows([r[:-1] for r in rows])
    with pytest.raises(BadRequest, match="unknown CSV header"):
        verify_file(odd, key)
