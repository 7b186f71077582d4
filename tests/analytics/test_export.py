"""Exports: every format read back by a standard reader, filters, the incremental cursor,
redaction of what the generator wrote, digests and `verify`, and flat memory."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from pathlib import Path

import pytest

from chatserver.analytics.errors import BadRequest
from chatserver.analytics.export import CONVERSATION_COLUMNS, MESSAGE_COLUMNS, uncell
from chatserver.analytics.filters import Cursor, Filters, parse_ratings, parse_when
from chatserver.analytics.sample import CARDS, SampleData, generate
from chatserver.analytics.verify import verify_file
from chatserver.store import ConversationRecord, SQLiteStore, VisitorRecord, iso_now

from .helpers import csv_rows, export_bytes, jsonl

PHONE_OR_CARD = re.compile(r"\+\d|\(\d{3}\)|\d{3}-\d{3}-\d{4}|(?:\d{4}[ -]){3}\d{4}")


def test_jsonl_holds_every_conversation_and_event(sample: SampleData) -> None:
    data, exporter = export_bytes(sample.path, "jsonl")
    docs = jsonl(data)
    assert len(docs) == len(sample.conversations) == exporter.stats.conversations
    by_id = {c.id: c for c in sample.conversations}
    for doc in docs:
        conv = doc["conversation"]
        want = by_id[conv["conversation_id"]]
        assert [e["seq"] for e in doc["events"]] == list(range(1, len(want.events) + 1))
        assert [e["kind"] for e in doc["events"]] == [e.kind for e in want.events]
        m = conv["metrics"]
        assert m["abandoned"] == want.abandoned
        assert m["transfers"] == want.transfers
        if want.first_assigned_ms is not None:
            assert m["wait_s"] == (want.first_assigned_ms - want.created_ms) / 1000
        assert conv["rating"] == want.rating and conv["tags"] == want.tags
        assert conv["visitor"].startswith("v_") and conv["visitor"] != want.visitor_id
    assert exporter.stats.messages == sample.messages


def test_csv_messages_is_a_row_per_message(sample: SampleData) -> None:
    data, _ = export_bytes(sample.path, "csv", "messages")
    rows = csv_rows(data)
    assert tuple(rows[0].keys()) == MESSAGE_COLUMNS
    assert len(rows) == sample.messages
    by_id = {c.id: c for c in sample.conversations}
    first = rows[0]
    want = by_id[first["conversation_id"]]
    assert first["seq"] == "2" and first["role"] == "visitor"
    assert first["author"].startswith("Visitor-") and want.name not in first["author"]
    assert first["ts"].endswith("Z") and first["topic"] == want.topic


def test_csv_conversations_is_a_row_per_conversation_with_its_metrics(
    sample: SampleData,
) -> None:
    data, _ = export_bytes(sample.path, "csv", "conversations")
    rows = csv_rows(data)
    assert tuple(rows[0].keys()) == CONVERSATION_COLUMNS
    by_id = {c.id: c for c in sample.conversations}
    assert len(rows) == len(by_id)
    for row in rows:
        want = by_id[row["conversation_id"]]
        assert row["topic"] == want.topic and row["language"] == want.language
        assert row["abandoned"] == str(want.abandoned)
        assert row["transfers"] == str(want.transfers)
        assert row["tags"] == ";".join(want.tags)
        assert row["rating"] == ("" if want.rating is None else str(want.rating))
        names = {sample.agents[a][0] for a in want.agents}
        assert set(filter(None, row["agents"].split(";"))) == names
        if want.first_assigned_ms is not None:
            assert float(row["wait_s"]) == (want.first_assigned_ms - want.created_ms) / 1000
            assert row["transcript"].count("\n") >= 2
        if want.closed_ms is not None and want.first_assigned_ms is not None:
            assert float(row["handle_s"]) == (want.closed_ms - want.first_assigned_ms) / 1000


def test_parquet_read_back_by_pyarrow(sample: SampleData, tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # the test extra installs it: a missing pyarrow fails here
    for shape, count in (("messages", sample.messages), ("conversations", 600)):
        data, _ = export_bytes(sample.path, "parquet", shape)
        target = tmp_path / f"{shape}.parquet"
        target.write_bytes(data)
        table = pq.read_table(target)
        assert table.num_rows == count
        names = MESSAGE_COLUMNS if shape == "messages" else CONVERSATION_COLUMNS
        assert tuple(table.column_names) == names
        assert str(table.schema.field("digest").type) == "string"
        assert verify_file(target).ok
    convs = pq.read_table(tmp_path / "conversations.parquet").to_pylist()
    assert {c["conversation_id"] for c in convs} == {c.id for c in sample.conversations}
    assert all(isinstance(c["tags"], list) for c in convs)


def test_nothing_personal_is_left_in_any_redacted_format(sample: SampleData) -> None:
    staff = {part for _, display in sample.agents.values() for part in display.split()}
    secrets = set()
    for c in sample.conversations:
        secrets |= {c.email, c.name, c.visitor_id}
        # Name parts, but not those agents share ("Omar", "Wei"): agents' names are kept.
        secrets |= {p for p in c.name.split() if len(p) >= 3 and p not in staff}
    secrets |= set(CARDS)
    shapes = [("jsonl", "messages"), ("csv", "messages"), ("csv", "conversations")]
    for fmt, shape in shapes:
        text = export_bytes(sample.path, fmt, shape)[0].decode()
        leaked = [s for s in secrets if s in text]
        assert not leaked, (fmt, shape, leaked[:5])
        assert not PHONE_OR_CARD.search(text), (fmt, shape, PHONE_OR_CARD.search(text))
        for placeholder in ("[EMAIL]", "[PHONE]", "[CARD]", "[IP]", "Visitor-"):
            assert placeholder in text, (fmt, shape, placeholder)


def test_without_redaction_the_data_is_as_stored(sample: SampleData) -> None:
    text = export_bytes(sample.path, "jsonl", redact=False)[0].decode()
    c = next(c for c in sample.conversations if c.pii)
    assert c.email in text and c.name in text and c.visitor_id in text
    assert all(p in text for p in c.pii)


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (Filters(topic="billing"), lambda c: c.topic == "billing"),
        (Filters(tag="refund"), lambda c: "refund" in c.tags),
        (Filters(ratings=parse_ratings("1-2")), lambda c: c.rating in (1, 2)),
        (Filters(ratings=parse_ratings("5")), lambda c: c.rating == 5),
        (
            Filters(since=parse_when("2026-03-04"), until=parse_when("2026-03-06T12:00:00Z")),
            lambda c: 1772582400000 <= c.created_ms < 1772582400000 + 2.5 * 86_400_000,
        ),
    ],
)
def test_filters(sample: SampleData, filters: Filters, keep: object) -> None:
    docs = jsonl(export_bytes(sample.path, "jsonl", filters=filters)[0])
    want = [c.id for c in sample.conversations if keep(c)]  # type: ignore[operator]
    assert want and [d["conversation"]["conversation_id"] for d in docs] == want


def test_agent_filter_takes_every_conversation_the_agent_took_part_in(
    sample: SampleData,
) -> None:
    agent_id, (username, _) = next(
        (a, info) for a, info in sample.agents.items()
        if any(c.transfers and a in c.agents[:-1] for c in sample.conversations)
    )  # fmt: skip
    docs = jsonl(export_bytes(sample.path, "jsonl", filters=Filters(agent=username.upper()))[0])
    want = [c.id for c in sample.conversations if agent_id in c.agents]
    assert [d["conversation"]["conversation_id"] for d in docs] == want
    with pytest.raises(BadRequest, match="no agent"):
        export_bytes(sample.path, filters=Filters(agent="nobody"))


def test_bad_filters_and_cursors_are_refused() -> None:
    with pytest.raises(BadRequest):
        parse_when("yesterday-ish")
    with pytest.raises(BadRequest):
        parse_ratings("6")
    with pytest.raises(BadRequest):
        parse_ratings("2-1")
    with pytest.raises(BadRequest):
        Cursor.parse("12345")
    assert str(Cursor.parse("v1.10.2")) == "v1.10.2"


async def _add_events(path: Path, visitor: str, conv_ids: list[str], new_id: str) -> None:
    async with SQLiteStore(path) as store:
        for cid in conv_ids:
            await store.append(cid, "note", {"text": "later"}, ts=iso_now(), actor_role="agent")
        if await store.get_visitor(visitor) is None:
            await store.add_visitor(
                VisitorRecord(
                    id=visitor, token_hash=f"h-{new_id}", site="default", created_at=iso_now()
                )
            )
        await store.add_conversation(
            ConversationRecord(
                id=new_id, visitor_id=visitor, site="default", topic="general",
                language="en", status="queued", created_at=iso_now(),
            )
        )  # fmt: skip
        await store.append(
            new_id, "start", {"topic": "general", "language": "en"}, ts=iso_now(),
            actor_role="visitor", actor_id=visitor,
        )  # fmt: skip


def test_the_cursor_takes_only_what_changed(sample: SampleData, fresh_store: Path) -> None:
    _, first = export_bytes(fresh_store, "jsonl")
    assert first.stats.conversations == 600
    cursor = first.cursor
    none_new, same = export_bytes(fresh_store, "jsonl", filters=Filters(after=cursor))
    assert none_new == b"" and same.cursor == cursor
    touched = [sample.conversations[3].id, sample.conversations[400].id]
    asyncio.run(_add_events(fresh_store, "v-new", touched, "c-new-1"))
    docs = jsonl(export_bytes(fresh_store, "jsonl", filters=Filters(after=cursor))[0])
    got = {d["conversation"]["conversation_id"] for d in docs}
    assert got == {*touched, "c-new-1"}
    # A conversation comes back whole, so the receiving side replaces it by id.
    doc = next(d for d in docs if d["conversation"]["conversation_id"] == touched[0])
    assert doc["events"][-1]["body"] == {"text": "later"}
    assert doc["events"][0]["seq"] == 1


def test_a_cursor_survives_deleting_the_newest_events(fresh_store: Path) -> None:
    asyncio.run(_add_events(fresh_store, "v-last", [], "c-last"))
    _, before = export_bytes(fresh_store, "jsonl")

    async def forget_then_add() -> None:
        async with SQLiteStore(fresh_store) as store:
            await store.forget_visitor("v-last", ts=iso_now(), actor="test")
        await _add_events(fresh_store, "v-next", [], "c-next")

    asyncio.run(forget_then_add())
    # c-next's events took the rowids c-last had; the cursor must not skip them.
    docs = jsonl(export_bytes(fresh_store, "jsonl", filters=Filters(after=before.cursor))[0])
    assert [d["conversation"]["conversation_id"] for d in docs] == ["c-next"]


def test_digests_show_a_transcript_was_not_altered(sample: SampleData, tmp_path: Path) -> None:
    data, _ = export_bytes(sample.path, "jsonl")
    from chatserver.analytics.source import Snapshot

    with Snapshot(sample.path) as snap:
        key = snap.key("seal")
    original = tmp_path / "t.jsonl"
    original.write_bytes(data)
    result = verify_file(original, key)
    assert result.ok and result.digests_checked == result.seals_checked == 600

    edited = tmp_path / "edited.jsonl"
    edited.write_bytes(data.replace(b"charged twice", b"charged once", 1))
    result = verify_file(edited, key)
    assert not result.ok and len(result.problems) == 1 and "altered" in result.problems[0]

    # Whoever edits and recomputes the public digest is caught by the seal.
    import json

    from chatserver.analytics.digest import digest

    lines = data.decode().splitlines()
    doc = json.loads(lines[0])
    doc["events"][1]["body"]["text"] = "something else"
    doc["digest"] = digest(doc["conversation"]["conversation_id"], doc["events"])
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([json.dumps(doc), *lines[1:]]) + "\n")
    assert verify_file(forged).ok  # the digest alone cannot tell
    result = verify_file(forged, key)
    assert [p for p in result.problems if "seal" in p]


def test_csv_digests_and_formula_cells(sample: SampleData, tmp_path: Path) -> None:
    data, _ = export_bytes(sample.path, "csv", "messages")
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    assert verify_file(path).ok
    path.write_bytes(data.replace(b"Alright, I'll wait.", b"Alright, I won't wait.", 1))
    assert not verify_file(path).ok
    assert uncell("'=1+1") == "=1+1" and uncell("plain") == "plain"


def test_formula_like_text_is_neutralised_in_csv(fresh_store: Path, tmp_path: Path) -> None:
    async def add() -> None:
        async with SQLiteStore(fresh_store) as store:
            await store.add_visitor(
                VisitorRecord(id="v-f", token_hash="h-f", site="default", created_at=iso_now())
            )
            await store.add_conversation(
                ConversationRecord(
                    id="c-f", visitor_id="v-f", site="default", topic="general",
                    language="en", status="queued", created_at=iso_now(),
                )
            )  # fmt: skip
            await store.append(
                "c-f", "message", {"text": '=HYPERLINK("http://x","y")'}, ts=iso_now(),
                actor_role="visitor",
            )  # fmt: skip

    asyncio.run(add())
    data, _ = export_bytes(fresh_store, "csv", "messages", filters=Filters(topic="general"))
    row = next(r for r in csv_rows(data) if r["conversation_id"] == "c-f")
    assert row["text"] == '\'=HYPERLINK("http://x","y")'
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert verify_file(path).ok


def _peak(path: Path, fmt: str, shape: str, filters: Filters) -> tuple[int, int]:
    from chatserver.analytics.export import Export, ExportOptions
    from chatserver.analytics.source import Snapshot

    with Snapshot(path) as snap:
        exporter = Export(snap, ExportOptions(format=fmt, shape=shape, filters=filters))  # type: ignore[arg-type]
        tracemalloc.start()
        try:
            for _chunk in exporter.chunks():
                pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return exporter.stats.messages, peak


def test_memory_stays_flat_over_200k_messages(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    data = generate(path, conversations=17_500, days=20, seed=3, keep=False)
    assert data.messages >= 200_000
    small = Filters(until=parse_when("2026-03-04"))  # the first 2 of 20 days
    for fmt, shape in (("csv", "messages"), ("jsonl", "messages")):
        few, peak_small = _peak(path, fmt, shape, small)
        many, peak_all = _peak(path, fmt, shape, Filters())
        assert many == data.messages and many > 8 * few
        # Ten times the messages, about the same memory: one conversation and one chunk.
        assert peak_all < peak_small * 1.5 + 1_000_000, (fmt, peak_small, peak_all)
        assert peak_all < 8_000_000, (fmt, peak_all)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(since="2026-03-03T00:00:00.000Z", until="2026-03-04T00:00:00.000Z"),
        Filters(topic="billing", tag="refund", ratings=frozenset({1, 2})),
        Filters(agent="nina", after=Cursor(100, 0)),
    ],
)
def test_no_scan_makes_sqlite_sort(sample: SampleData, filters: Filters) -> None:
    """Flat memory on SQLite's side too: every scan walks indexes in output order."""
    from chatserver.analytics.source import Snapshot

    with Snapshot(sample.path) as snap:
        for name, (sql, params) in snap.queries(filters).items():
            if name == "rated_texts":
                params = [*params, "[1,2]"]
            plan = " | ".join(r[3] for r in snap.conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "TEMP B-TREE" not in plan, (name, plan)
