"""Every query of the dashboard's conversation list (`chatserver.store.sql.dashboard`) walks an
index in the list's order, on both stores: no whole-table scan, no sort — for each filter the
dashboard offers, on the first page and on pages either side of a cursor (issue #23). The
queries are the store's own, taken from its `Plan` as it runs on the generated sample."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import pytest

from chatserver.analytics.sample import SampleData
from chatserver.store import ConversationQuery, PageCursor
from chatserver.store.sql.dashboard import _page

MIDDLE = PageCursor("older", "2026-03-08T00:00:00.000Z", 300)
QUERIES = [
    {},
    {"since": "2026-03-03T00:00:00.000Z", "until": "2026-03-05T00:00:00.000Z"},
    {"topic": "billing"},
    {"status": "closed"},
    {"agent": "nina"},
    {"agent": "nina", "topic": "billing", "status": "closed", "since": "2026-03-03"},
    {"topic": "billing", "status": "closed"},
    {"tag": "refund"},
    {"tag": "refund", "agent": "nina", "status": "closed"},
]
CURSORS = [None, MIDDLE, PageCursor("newer", MIDDLE.created_at, MIDDLE.rowid)]
Run = Callable[[str, Sequence[Any]], Sequence[Sequence[Any]]]


def list_queries(query: ConversationQuery, run: Run) -> list[tuple[str, Any]]:
    """The queries one page takes (the agent's look-up left out), as the store runs them."""
    plan = _page(query)
    seen: list[tuple[str, Any]] = []
    sql, params = next(plan)
    try:
        while True:
            if not sql.startswith("SELECT id FROM agents"):
                seen.append((sql, params))
            sql, params = plan.send(run(sql, params))
    except StopIteration:
        return seen


@pytest.mark.parametrize("kw", QUERIES, ids=lambda kw: ",".join(kw) or "none")
@pytest.mark.parametrize("cursor", CURSORS, ids=["first", "older", "newer"])
def test_no_list_query_makes_sqlite_scan_a_table_or_sort(
    sample: SampleData, kw: dict[str, str], cursor: PageCursor | None
) -> None:
    conn = sqlite3.connect(sample.path)
    try:

        def run(sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
            return conn.execute(sql, params).fetchall()

        query = ConversationQuery(cursor=cursor, **kw)  # type: ignore[arg-type]
        for sql, params in list_queries(query, run):
            details = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            plan = " | ".join(details)
            assert "TEMP B-TREE" not in plan, plan
            # A SCAN of a table is a whole-table read; the list's one SCAN walks an index.
            scans = [d for d in details if d.startswith("SCAN ") and " INDEX " not in d]
            assert not scans, plan
    finally:
        conn.close()


@pytest.mark.parametrize("kw", QUERIES, ids=lambda kw: ",".join(kw) or "none")
@pytest.mark.parametrize("cursor", CURSORS, ids=["first", "older", "newer"])
def test_no_list_query_makes_postgresql_scan_a_table_or_sort(
    sample_postgres: str, kw: dict[str, str], cursor: PageCursor | None
) -> None:
    """On a sample this small PostgreSQL would rightly read the whole table, so the planner is
    told not to (as the snapshots do for the scans); a Seq Scan or a Sort still shows where no
    index serves the query. Which plan it picks on a large store is its costs' call — a count
    of most of the table may read the table — and is measured in benchmarks, not here."""
    with psycopg.connect(sample_postgres) as conn:
        for setting in ("enable_seqscan", "enable_sort", "enable_hashjoin", "enable_mergejoin"):
            conn.execute(f"SET {setting} = off")

        def run(sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()

        query = ConversationQuery(cursor=cursor, **kw)  # type: ignore[arg-type]
        for sql, params in list_queries(query, run):
            rows = conn.execute("EXPLAIN " + sql.replace("?", "%s"), params).fetchall()
            plan = " | ".join(str(r[0]).strip() for r in rows)
            lines = [str(r[0]).strip().removeprefix("->  ") for r in rows]
            nodes = [line.split("  (cost=")[0] for line in lines if "  (cost=" in line]
            assert not [n for n in nodes if "Sort" in n or n.startswith("Hash")], plan
            assert not [n for n in nodes if n.startswith("Seq Scan")], plan
