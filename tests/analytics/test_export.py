"""Exports: every format read back by a standard reader, filters, the incremental cursor,
redaction of what the generator wrote, digests and `verify`, and flat memory."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import hmac
import io
import json
import re
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from chatserver.analytics.csv_text import uncell
from chatserver.analytics.errors import BadRequest
from chatserver.analytics.filters import parse_cursor, parse_ratings, parse_when
from chatserver.analytics.redact import Redactor
from chatserver.analytics.rows import CONVERSATION_COLUMNS, MESSAGE_COLUMNS
from chatserver.analytics.sample import SampleData, generate
from chatserver.analytics.sample_corpus import CARDS
from chatserver.analytics.verify import verify_file
from chatserver.store import (
    BadSelection,
    ConversationRecord,
    Cursor,
    Filters,
    ReadSnapshot,
    SQLiteStore,
    VisitorRecord,
    iso_now,
    open_store,
)
from chatserver.store.postgres.copy_in import copy_from_sqlite
from chatserver.store.postgres.snapshot import PostgresSnapshot
from chatserver.store.sqlite.snapshot import SQLiteSnapshot

from .helpers import csv_rows, export_bytes, jsonl, snapshot_of

PHONE_OR_CARD = re.compile(r"\+\d|\(\d{3}\)|\d{3}-\d{3}-\d{4}|(?:\d{4}[ -]){3}\d{4}")


def test_jsonl_holds_every_conversation_and_event(sample: SampleData, sample_url: str) -> None:
    data, exporter = export_bytes(sample_url, "jsonl")
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


def test_csv_messages_is_a_row_per_message(sample: SampleData, sample_url: str) -> None:
    data, _ = export_bytes(sample_url, "csv", "messages")
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
    sample_url: str,
) -> None:
    data, _ = export_bytes(sample_url, "csv", "conversations")
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


def test_parquet_read_back_by_pyarrow(sample: SampleData, sample_url: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq  # the test extra installs it: a missing pyarrow fails here

    for shape, count in (("messages", sample.messages), ("conversations", 600)):
        data, _ = export_bytes(sample_url, "parquet", shape)
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


def test_nothing_personal_is_left_in_any_redacted_format(
    sample: SampleData, sample_url: str
) -> None:
    staff = {part for _, display in sample.agents.values() for part in display.split()}
    secrets = set()
    for c in sample.conversations:
        secrets |= {c.email, c.name, c.visitor_id}
        # Name parts, but not those agents share ("Omar", "Wei"): agents' names are kept.
        secrets |= {p for p in c.name.split() if len(p) >= 3 and p not in staff}
    secrets |= set(CARDS)
    shapes = [("jsonl", "messages"), ("csv", "messages"), ("csv", "conversations")]
    for fmt, shape in shapes:
        text = export_bytes(sample_url, fmt, shape)[0].decode()
        leaked = [s for s in secrets if s in text]
        assert not leaked, (fmt, shape, leaked[:5])
        assert not PHONE_OR_CARD.search(text), (fmt, shape, PHONE_OR_CARD.search(text))
        for placeholder in ("[EMAIL]", "[PHONE]", "[CARD]", "[IP]", "Visitor-"):
            assert placeholder in text, (fmt, shape, placeholder)


def test_without_redaction_the_data_is_as_stored(sample: SampleData, sample_url: str) -> None:
    text = export_bytes(sample_url, "jsonl", redact=False)[0].decode()
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
def test_filters(sample: SampleData, sample_url: str, filters: Filters, keep: object) -> None:
    docs = jsonl(export_bytes(sample_url, "jsonl", filters=filters)[0])
    want = [c.id for c in sample.conversations if keep(c)]  # type: ignore[operator]
    assert want and [d["conversation"]["conversation_id"] for d in docs] == want


def test_agent_filter_takes_every_conversation_the_agent_took_part_in(
    sample: SampleData,
    sample_url: str,
) -> None:
    agent_id, (username, _) = next(
        (a, info) for a, info in sample.agents.items()
        if any(c.transfers and a in c.agents[:-1] for c in sample.conversations)
    )  # fmt: skip
    docs = jsonl(export_bytes(sample_url, "jsonl", filters=Filters(agent=username.upper()))[0])
    want = [c.id for c in sample.conversations if agent_id in c.agents]
    assert [d["conversation"]["conversation_id"] for d in docs] == want
    with pytest.raises(BadSelection, match="no agent"):
        export_bytes(sample_url, filters=Filters(agent="nobody"))


def test_bad_filters_and_cursors_are_refused() -> None:
    with pytest.raises(BadRequest):
        parse_when("yesterday-ish")
    with pytest.raises(BadRequest):
        parse_ratings("6")
    with pytest.raises(BadRequest):
        parse_ratings("2-1")
    with pytest.raises(BadRequest):
        parse_cursor("12345")
    assert str(parse_cursor("v1.10.2")) == "v1.10.2"
    assert parse_cursor("v1.10.2") == Cursor("sqlite", 10, 2)
    assert parse_cursor("pg1.7788.0") == Cursor("postgresql", 7788, 0)
    assert str(Cursor("postgresql", 7788)) == "pg1.7788.0"


def test_a_cursor_of_the_other_store_is_refused(snapshot: ReadSnapshot) -> None:
    mine = snapshot.cursor
    other = Cursor("postgresql" if mine.store == "sqlite" else "sqlite", mine.mark)
    with pytest.raises(BadSelection, match="was printed by an export from a"):
        snapshot.check(Filters(after=other))
    snapshot.check(Filters(after=mine))


async def _add_events(source: str | Path, visitor: str, conv_ids: list[str], new_id: str) -> None:
    async with open_store(source) as store:
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


def test_the_cursor_takes_only_what_changed(sample: SampleData, fresh_url: str) -> None:
    fresh_store = fresh_url
    _, first = export_bytes(fresh_store, "jsonl")
    assert first.stats.conversations == 600
    cursor = first.cursor
    none_new, same = export_bytes(fresh_store, "jsonl", filters=Filters(after=cursor))
    assert none_new == b""
    # Nothing changed here, so the cursor does not go back; on SQLite (the newest rowid) it
    # stays, on PostgreSQL (the cluster's oldest running transaction) any transaction of the
    # cluster moves it on — other tests' databases on the same private cluster do.
    assert (same.cursor.store, same.cursor.deletions) == (cursor.store, cursor.deletions)
    assert (
        same.cursor.mark == cursor.mark
        if cursor.store == "sqlite"
        else same.cursor.mark >= cursor.mark
    )
    touched = [sample.conversations[3].id, sample.conversations[400].id]
    asyncio.run(_add_events(fresh_store, "v-new", touched, "c-new-1"))
    docs = jsonl(export_bytes(fresh_store, "jsonl", filters=Filters(after=cursor))[0])
    got = {d["conversation"]["conversation_id"] for d in docs}
    assert got == {*touched, "c-new-1"}
    # A conversation comes back whole, so the receiving side replaces it by id.
    doc = next(d for d in docs if d["conversation"]["conversation_id"] == touched[0])
    assert doc["events"][-1]["body"] == {"text": "later"}
    assert doc["events"][0]["seq"] == 1


def test_a_cursor_survives_deleting_the_newest_events(fresh_url: str) -> None:
    fresh_store = fresh_url
    asyncio.run(_add_events(fresh_store, "v-last", [], "c-last"))
    _, before = export_bytes(fresh_store, "jsonl")

    async def forget_then_add() -> None:
        async with open_store(fresh_store) as store:
            await store.forget_visitor("v-last", ts=iso_now(), actor="test")
        await _add_events(fresh_store, "v-next", [], "c-next")

    asyncio.run(forget_then_add())
    # c-next's events took the rowids c-last had; the cursor must not skip them.
    docs = jsonl(export_bytes(fresh_store, "jsonl", filters=Filters(after=before.cursor))[0])
    assert [d["conversation"]["conversation_id"] for d in docs] == ["c-next"]


def test_digests_show_a_transcript_was_not_altered(sample_url: str, tmp_path: Path) -> None:
    data, _ = export_bytes(sample_url, "jsonl")
    with snapshot_of(sample_url) as snap:
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


def test_csv_digests_and_formula_cells(sample: SampleData, sample_url: str, tmp_path: Path) -> None:
    data, _ = export_bytes(sample_url, "csv", "messages")
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    assert verify_file(path).ok
    path.write_bytes(data.replace(b"Alright, I'll wait.", b"Alright, I won't wait.", 1))
    assert not verify_file(path).ok
    assert uncell("'=1+1") == "=1+1" and uncell("plain") == "plain"


def test_formula_like_text_is_neutralised_in_csv(fresh_url: str, tmp_path: Path) -> None:
    fresh_store = fresh_url

    async def add() -> None:
        async with open_store(fresh_store) as store:
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


def test_names_that_lower_case_longer_are_redacted_in_every_format(fresh_url: str) -> None:
    """A visitor named "İlker Şahin" ("İ" lower-cases to two characters), written of in
    other cases, in texts that fold longer (ß) or not, with a phone number in Arabic-Indic
    digits: none of it is left in any redacted format."""

    fresh_store = fresh_url

    async def add() -> None:
        async with open_store(fresh_store) as store:
            await store.add_visitor(
                VisitorRecord(
                    id="v-tr", token_hash="h-tr", site="default", created_at=iso_now(),
                    name="İlker Şahin", email="İlker@Örnek.com.tr",
                )
            )  # fmt: skip
            await store.add_conversation(
                ConversationRecord(
                    id="c-tr", visitor_id="v-tr", site="default", topic="turkish",
                    language="tr", status="queued", created_at=iso_now(),
                )
            )  # fmt: skip
            texts = [
                "Merhaba, ben İlker Şahin", "ILKER ŞAHIN burada, Straße 5", "ilker'in numarası",
                "İLKER ŞAHİN: ٠٥٣٢ ١٢٣٤٥٦٧", "yaz: ilker@örnek.com.tr", "şahin ılker",
            ]  # fmt: skip
            for i, text in enumerate(texts):
                await store.append(
                    "c-tr", "message", {"text": text}, ts=iso_now(),
                    actor_role="agent" if i % 2 else "visitor",
                    actor_name="Nina" if i % 2 else "İlker Şahin",
                )  # fmt: skip

    asyncio.run(add())
    only = Filters(topic="turkish")
    for fmt, shape in (("jsonl", "messages"), ("csv", "messages"), ("csv", "conversations")):
        text = export_bytes(fresh_store, fmt, shape, filters=only)[0].decode()
        assert "Visitor-" in text and "[PHONE]" in text and "[EMAIL]" in text, (fmt, shape)
        folded = text.casefold().replace("ı", "i").replace("i\u0307", "i")
        assert "lker" not in folded and "şahin" not in folded, (fmt, shape, text)
        assert "١٢٣٤٥٦٧" not in text, (fmt, shape)


def _peak(path: str | Path, fmt: str, shape: str, filters: Filters) -> tuple[int, int]:
    from chatserver.analytics.export import Export, ExportOptions

    with snapshot_of(path) as snap:
        exporter = Export(snap, ExportOptions(format=fmt, shape=shape, filters=filters))  # type: ignore[arg-type]
        tracemalloc.start()
        try:
            for _chunk in exporter.chunks():
                pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return exporter.stats.messages, peak


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_memory_stays_flat_over_200k_messages(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    big = tmp_path / "big.db"
    data = generate(big, conversations=17_500, days=20, seed=3, keep=False)
    assert data.messages >= 200_000
    path: str | Path = big
    if store == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        copy_from_sqlite(big, url)
        path = url
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
        Filters(agent="nina", after=Cursor("sqlite", 100, 0)),
    ],
)
def test_no_scan_makes_sqlite_sort(sample: SampleData, filters: Filters) -> None:
    """Flat memory on SQLite's side too: every scan walks indexes in output order."""
    with SQLiteSnapshot(sample.path) as snap:
        for name, (sql, params) in snap.queries(filters).items():
            if name == "rated_texts":
                params = [*params, "[1,2]"]
            plan = " | ".join(r[3] for r in snap.conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "TEMP B-TREE" not in plan, (name, plan)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(since="2026-03-03T00:00:00.000Z", until="2026-03-04T00:00:00.000Z"),
        Filters(topic="billing", tag="refund", ratings=frozenset({1, 2})),
        Filters(agent="nina"),
    ],
)
def test_no_scan_makes_postgresql_sort_or_hash_a_table(
    sample_postgres: str, filters: Filters
) -> None:
    """Flat memory and a first row at once on PostgreSQL: every scan walks indexes in output
    order (one conversation's events may be sorted among themselves), nothing is hashed."""
    with PostgresSnapshot(sample_postgres) as snap:
        after = dataclasses.replace(filters, after=snap.cursor)
        for name, (sql, params) in snap.queries(after).items():
            if name == "rated_texts":
                params = [*params, [1, 2]]
            rows = snap.conn.execute("EXPLAIN " + sql, params).fetchall()
            plan = " | ".join(str(r[0]).strip() for r in rows)
            lines = [str(r[0]).strip().removeprefix("->  ") for r in rows]
            nodes = [line.split("  (cost=")[0] for line in lines if "  (cost=" in line]
            assert not [n for n in nodes if n == "Sort" or n.startswith("Hash")], (name, plan)
            assert "Seq Scan on events" not in plan, (name, plan)
            assert "Seq Scan on conversations" not in plan, (name, plan)
            if filters.agent is not None:  # a primary-key probe per conversation, not a range
                assert "conversation_agents_pkey" in plan, (name, plan)


# --- the messages CSV, against a plain reference ---------------------------------------------

_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")


def _reference_messages_csv(path: Path, redact: bool) -> bytes:
    """The messages CSV made the plain way, row by row: json_extract for each text,
    `Redactor.text` on each text alone, ``csv.writer`` for every row, the digest and seal
    from their definitions (docs/analytics.md)."""
    conn = sqlite3.connect(path)
    try:
        keys = dict(conn.execute("SELECT name, value FROM analytics_keys"))
        redactor = Redactor(bytes.fromhex(keys["pseudonym"]))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(MESSAGE_COLUMNS)
        conversations = conn.execute(
            "SELECT c.id, c.visitor_id, c.topic, c.language, v.name, v.email FROM conversations c"
            " LEFT JOIN visitors v ON v.id = c.visitor_id ORDER BY c.created_at, c.rowid"
        ).fetchall()
        for cid, visitor_id, topic, language, name, email in conversations:
            start_row = conn.execute(
                "SELECT body FROM events WHERE conversation_id = ? AND kind = 'start'"
                " ORDER BY seq LIMIT 1",
                (cid,),
            ).fetchone()
            start = json.loads(start_row[0]) if start_row else {}
            known = redactor.known(
                visitor_id, (name, start.get("name")), (email, start.get("email"))
            )
            rows = []
            for seq, ts, role, author, text in conn.execute(
                "SELECT seq, ts, actor_role, coalesce(actor_name, ''),"
                " CAST(coalesce(json_extract(body, '$.text'), '') AS TEXT) FROM events"
                " WHERE conversation_id = ? AND kind = 'message' ORDER BY seq",
                (cid,),
            ):
                if redact:
                    text = Redactor.text(text, known)
                    author = known.pseudonym if role == "visitor" and author else author
                rows.append((cid, seq, ts, topic, language, role, author, text))
            if not rows:
                continue
            h = hashlib.sha256(b"chatserver-messages-v1\0" + cid.encode() + b"\0")
            h.update(orjson.dumps(rows))
            digest = "sha256:" + h.hexdigest()
            mac = hmac.new(bytes.fromhex(keys["seal"]), digest.encode(), hashlib.sha256)
            seal = "hmac-sha256:" + mac.hexdigest()
            for i, r in enumerate(rows):
                cells = ["'" + v if v.startswith(_FORMULA) else v for v in r[6:]]
                writer.writerow((*r[:6], *cells, *((digest, seal) if i == 0 else ("", ""))))
        return out.getvalue().encode()
    finally:
        conn.close()


_AWKWARD_TEXTS = [
    'He said "hi", then left',
    "line one\nline two",
    "carriage\rreturn",
    "a, b, and c",
    "=SUM(A1:A2)",
    "+1 555 123 4567",
    "-5 degrees",
    "@channel look",
    "\tindented",
    "'quoted",
    "tab\tinside, and a NUL \x00 too",
    "",
    "MARIA GARCÍA here, write to M.Garcia@Example.com or maria (at) example (dot) org",
    "card ٤١١١ ١١١١ ١١١١ ١١١١ and 4111-1111-1111-1111",
    "from 2001:0db8:85a3:0000:0000:8a2e:0370:7334, ok",
    "ticket #48213 on 2026-05-01",
    "back\\slash and \u2028 and é",
    "Straße, MARÍA GARCÍA: call ٠١٧٦ ١٢٣٤٥٦٧٨ or ０１７６-１２３４５６７８",
    "İ İ maria garcía",
    '"',
    "}",
]


def _add_awkward(path: Path) -> None:
    """A conversation with every kind of awkward text, from a visitor with a name and an
    e-mail, a second start event later on; and odd bodies written straight into the store."""

    async def add() -> None:
        async with SQLiteStore(path) as store:
            await store.add_visitor(
                VisitorRecord(
                    id="v-odd", token_hash="h-odd", site="default", created_at=iso_now(),
                    name="Maria García", email="m.garcia@example.com",
                )
            )  # fmt: skip
            for cid, topic in (("c-odd", "a,b"), ("c-odd-2", "general")):
                await store.add_conversation(
                    ConversationRecord(
                        id=cid, visitor_id="v-odd", site="default", topic=topic,
                        language='e"n', status="queued", created_at=iso_now(),
                    )
                )  # fmt: skip
                await store.append(
                    cid, "start", {"topic": topic, "name": "Mia G", "email": "mia@x.example"},
                    ts=iso_now(), actor_role="visitor", actor_id="v-odd",
                )  # fmt: skip
            for i, text in enumerate(_AWKWARD_TEXTS):
                await store.append(
                    "c-odd", "message", {"text": text}, ts=iso_now(),
                    actor_role="visitor" if i % 2 else "agent",
                    actor_name=("Maria García" if i % 2 else ["=Agent, Smith", "Li \"Wei\""][i % 4 // 2]),
                )  # fmt: skip
            await store.append(
                "c-odd", "start", {"name": "Other Name"}, ts=iso_now(), actor_role="visitor"
            )
            await store.append(
                "c-odd-2", "message", {"text": "only, one"}, ts=iso_now(), actor_role="visitor"
            )

    asyncio.run(add())
    odd_bodies = [
        '{"text":"a","text":"b"}',
        '{"text": "spaced"}',
        '{"text":5}',
        '{"text":1e100}',
        '{"text":true}',
        '{"text":null}',
        '{"other":"x"}',
        '{"text":[1,"two"]}',
        '{"text":"x","extra":"y"}',
        '{"text":"\\u00e9\\n\\"q\\""}',
        '{"text":"\\u0000"}',
        '{"text":"ok"} ',
        '{"text":"}"}',
        '{"text":"plain again"}',
    ]
    conn = sqlite3.connect(path)
    with conn:
        seq = conn.execute(
            "SELECT max(seq) FROM events WHERE conversation_id = 'c-odd'"
        ).fetchone()[0]
        for i, body in enumerate(odd_bodies, start=seq + 1):
            conn.execute(
                "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, actor_name, body)"
                " VALUES ('c-odd', ?, ?, 'message', 'visitor', 'Maria García', ?)",
                (i, iso_now(), body),
            )
    conn.close()


@pytest.mark.parametrize("redact", [True, False])
def test_messages_csv_is_byte_for_byte_the_plain_reference(
    fresh_store: Path, tmp_path: Path, redact: bool
) -> None:
    """The fast path (texts cut out of the bodies, redaction of a conversation in one pass,
    the CSV written without csv.writer) against the plain way, on the sample and on every
    awkward text and body: the same bytes."""
    _add_awkward(fresh_store)
    data, exporter = export_bytes(fresh_store, "csv", "messages", redact=redact)
    assert data == _reference_messages_csv(fresh_store, redact)
    assert exporter.stats.messages == sum(1 for _ in csv_rows(data))
    row = next(r for r in csv_rows(data) if r["conversation_id"] == "c-odd")
    assert row["topic"] == "a,b" and row["language"] == 'e"n'
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    assert verify_file(path).ok


def test_a_malformed_body_fails_the_export_as_before(fresh_store: Path) -> None:
    _add_awkward(fresh_store)
    conn = sqlite3.connect(fresh_store)
    with conn:
        conn.execute(
            "INSERT INTO events (conversation_id, seq, ts, kind, actor_role, body)"
            " VALUES ('c-odd-2', 99, ?, 'message', 'visitor', ?)",
            (iso_now(), '{"text":"raw\ncontrol"}'),
        )
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        export_bytes(fresh_store, "csv", "messages")


@pytest.mark.parametrize(
    "bodies",
    [
        ['{"text":"a"}', '{"text":"b, c"}', '{"text":""}'],
        ['{"text":"}'],
        ['{"text":"}', '{"text":"x"}'],
        ['{"text":"x"}', '{"text":"}'],
        ['{"text":"x"}', '{"text":"}', '{"text":"y"}'],
        ['{"text":"a"}{"text":"b"}'],
        ['{"text":"a\\"b"}'],
        ['{"text":"a"b"}', '{"text":"c"}'],
        ['{"text":"a\x00b"}'],
        ['{"text":"tab\there"}'],
        ['{"text":"a"}', '{"text":"b"}\x00{"text":"c"}'],
        ['{"text":"é ☃ \u2028 \x7f"}'],
        ['{"text":"x","y":"z"}'],
    ],
)
def test_texts_come_out_of_bodies_as_json_extract_gives_them(
    snapshot: ReadSnapshot, bodies: list[str]
) -> None:
    events = [("c", i, "t", "visitor", "", b) for i, b in enumerate(bodies, start=1)]
    want: list[str] | None
    sqlite = sqlite3.connect(":memory:")
    try:
        want = [
            sqlite.execute(
                "SELECT CAST(coalesce(json_extract(?, '$.text'), '') AS TEXT)", (b,)
            ).fetchone()[0]
            for b in bodies
        ]
    except sqlite3.OperationalError:
        want = None
    if want is None:
        with pytest.raises(sqlite3.OperationalError):
            snapshot.message_texts(events)
        return
    got = snapshot.message_texts(events)
    assert (got.split("\0") if isinstance(got, str) else got) == want


def _block_reference(rows: list[tuple[Any, ...]], digest: str, seal: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for i, r in enumerate(rows):
        cells = ["'" + v if isinstance(v, str) and v.startswith(_FORMULA) else v for v in r[6:]]
        writer.writerow((*r[:6], *cells, *((digest, seal) if i == 0 else ("", ""))))
    return out.getvalue()


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"text": "a, b"},
        {"text": 'say "x"'},
        {"text": "two\nlines"},
        {"text": "cr\r"},
        {"text": "=1+1"},
        {"text": "-1, or +1"},
        {"text": "nul \x00 here"},
        {"author": "Smith, J"},
        {"author": "@handle"},
        {"author": 'Ann "A"'},
        {"ts": "2026-03-01 10:00, UTC"},
        {"ts": 'odd"ts'},
        {"role": "agent\n"},
        {"seq": "7,8"},
        {"seq": 7.5},
        {"seq": None},
        {"cid": "c,1"},
        {"topic": 'bill"ing'},
        {"language": "e\rn"},
        {"text": "é, ☃"},
    ],
)
def test_the_csv_block_writes_what_csv_writer_writes(values: dict[str, Any]) -> None:
    from chatserver.analytics.csv_text import MessageGroup, message_block

    # The conversation's own columns are the same on every row; the others vary.
    shared = {k: v for k, v in values.items() if k in ("cid", "topic", "language")}
    rows: list[tuple[Any, ...]] = []  # MessageRow-like, but any values (see the parameters)
    for seq in (1, 2, 3):
        row = {
            "cid": "c1", "seq": seq, "ts": "2026-03-01T10:00:00.000Z", "topic": "billing",
            "language": "en", "role": "visitor", "author": "Visitor-abc123", "text": "plain",
        }  # fmt: skip
        row.update(shared)
        if seq == 2:
            row.update(values)
        rows.append(tuple(row.values()))
    seqs, stamps, roles, authors, texts = (tuple(r[i] for r in rows) for i in (1, 2, 5, 6, 7))
    dumped = orjson.dumps(rows)
    columns = (seqs, stamps, roles, authors, texts)
    want = _block_reference(rows, "sha256:d", "s")
    plain_authors: set[str] = set()
    for pseudonym, known in ((None, None), ("Visitor-abc123", plain_authors)):
        group = MessageGroup(rows, columns, None, dumped, "sha256:d", "s", pseudonym)
        assert message_block(group, known) == want
        assert message_block(group, known) == want  # the authors remembered now


@pytest.mark.parametrize("key_size", [16, 32, 64, 65, 200])
def test_the_sealer_seals_as_hmac_does(key_size: int) -> None:
    from chatserver.analytics.digest import Sealer, seal, seal_ok

    key = bytes(range(key_size % 256)) * (key_size // 256 + 1)
    key = key[:key_size]
    sealer = Sealer(key)
    for digest in ("", "sha256:" + "ab" * 32, "é" * 100):
        assert sealer(digest) == seal(key, digest)
        assert seal_ok(key, digest, sealer(digest))
