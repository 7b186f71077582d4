"""The figures read one row per conversation — the facts the append path keeps on it
(``first_assigned_at``, ``first_response_at``, ``transfers``) and ``conversation_agents`` for
the agent filter — and must equal a from-scratch computation over the raw events (issue #23):
on a generated store (the migration's and the generator's facts), on events appended through
the store's writer, and after migrating a store written before the facts existed."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from chatserver.analytics import rollups
from chatserver.analytics.figures import summary
from chatserver.analytics.sample import SampleData, generate
from chatserver.store import ConversationQuery, Filters, NewEvent, ReadSnapshot, open_store
from chatserver.store._migrate import load_migrations
from chatserver.store.open import migrate_store
from chatserver.store.postgres._migrate import load_migrations as load_pg_migrations
from chatserver.store.postgres.copy_in import copy_from_sqlite
from chatserver.store.snapshots import EventRow, FigureRow
from tests.analytics.helpers import snapshot_of
from tests.chatserver.store.conftest import STORES, backend, store_url
from tests.conftest import POSTGRES_TEMPLATE
from tests.support.postgres_server import PostgresServer

# --- the oracle: straight from the events ---------------------------------------------------


def oracle_rows(snap: ReadSnapshot, filters: Filters) -> list[FigureRow]:
    """The figure rows ``filters`` selects, worked out from each conversation's raw events
    (the period alone is left to the scan: it is a column of the row)."""
    agent_id = snap.resolve_agent(filters.agent) if filters.agent is not None else None
    rows: list[FigureRow] = []
    for c, own in snap.conversations(Filters(since=filters.since, until=filters.until)):
        events = [EventRow._make(e) for e in own]  # plain tuples of that shape
        if filters.topic is not None and c.topic != filters.topic:
            continue
        if filters.tag is not None and filters.tag not in orjson.loads(c.tags):
            continue
        if filters.ratings is not None and c.rating not in filters.ratings:
            continue
        bodies = [orjson.loads(e.body) for e in events if e.kind == "assigned"]
        if agent_id is not None and not any(b.get("agent_id") == agent_id for b in bodies):
            continue
        assigned = [e.ts for e in events if e.kind == "assigned"]
        replies = [
            e.ts
            for e in events
            if e.kind == "message"
            and e.actor_role == "agent"
            and not (e.actor_id or "").startswith("bot:")  # a bot's reply is not a person's
        ]
        rows.append(
            FigureRow(
                c.id, c.topic, c.status, c.created_at, c.closed_at, c.rating, c.rating_comment,
                c.tags, c.last_agent_id, min(assigned, default=None), min(replies, default=None),
                sum(e.kind == "transfer" for e in events), c.bot_id, c.handed_over_at,
            )
        )  # fmt: skip
    return rows


class OracleSnapshot:
    """The snapshot as `summary` reads it, its figure rows from the oracle and no day from
    the rollups (the store's own summary adds up the cells of its built days)."""

    def __init__(self, snap: ReadSnapshot) -> None:
        self._snap = snap

    def figure_rows(self, filters: Filters) -> Iterator[FigureRow]:
        return iter(oracle_rows(self._snap, filters))

    def rollup_periods(self, first: str | None, end: str | None, *, hours: bool) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snap, name)


def random_filters(rng: random.Random, data: SampleData, snap: ReadSnapshot) -> Filters:
    day = 86_400_000
    since_ms = data.start_ms + rng.randrange(data.days) * day + rng.randrange(day)
    until_ms = since_ms + rng.randrange(1, data.days) * day + rng.randrange(day)

    agents = sorted(snap.agents().values())
    topics = sorted({c.topic for c in data.conversations})
    tags = sorted({t for c in data.conversations for t in c.tags})
    return Filters(
        since=sample_iso(since_ms) if rng.random() < 0.7 else None,
        until=sample_iso(until_ms) if rng.random() < 0.7 else None,
        topic=rng.choice(topics) if rng.random() < 0.3 else None,
        agent=(rng.choice(agents).username if rng.random() < 0.5 else None),
        tag=rng.choice(tags) if tags and rng.random() < 0.2 else None,
        ratings=frozenset(rng.sample(range(1, 6), rng.randint(1, 3)))
        if rng.random() < 0.2
        else None,
    )


def sample_iso(ms: int) -> str:
    """The store's ISO 8601 UTC form of a time in ms, as the generator writes it."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def same_figures(snap: ReadSnapshot, filters: Filters, terms: bool = False) -> None:
    assert list(snap.figure_rows(filters)) == oracle_rows(snap, filters), filters
    got = summary(snap, filters, terms=terms)
    want = summary(OracleSnapshot(snap), filters, terms=terms)
    for figures in (got, want):
        figures.pop("generated_at")
    assert got == want, filters


def check_random_ranges(url: str, data: SampleData, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    with snapshot_of(url) as snap:
        same_figures(snap, Filters(), terms=True)
        for _ in range(rounds):
            same_figures(snap, random_filters(rng, data, snap))


# --- a generated store ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def facts_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    """5,000 conversations over 30 days (never modified)."""
    path = tmp_path_factory.mktemp("facts") / "chat.db"
    return generate(path, conversations=5000, days=30, seed=23)


@pytest.fixture(scope="module", params=STORES, ids=backend)
def facts_url(request: pytest.FixtureRequest, facts_sample: SampleData) -> str:
    if "{postgresql}" not in str(request.param):
        return str(facts_sample.path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database("analytics_facts", template=POSTGRES_TEMPLATE)
    copy_from_sqlite(facts_sample.path, url)
    return url


def built(url: str) -> str:
    """The store at ``url`` with the rollups of every past day built (what the hub does)."""

    async def go() -> None:
        async with open_store(url) as store:
            await rollups.rebuild(store)

    asyncio.run(go())
    with snapshot_of(url) as snap:
        assert snap.rollup_periods(None, None, hours=False), "no day was built"
    return url


def test_figures_equal_the_events_on_random_ranges_and_filters(
    facts_url: str, facts_sample: SampleData
) -> None:
    check_random_ranges(facts_url, facts_sample, rounds=10, seed=4)  # rows alone
    check_random_ranges(built(facts_url), facts_sample, rounds=25, seed=5)  # cells and rows


@pytest.mark.slow
@pytest.mark.timeout(900)  # a hang guard: 100,000 conversations generated, copied and rebuilt
@pytest.mark.parametrize("store", STORES, ids=backend)
def test_figures_equal_the_events_at_100k(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = generate(tmp_path / "chat.db", conversations=100_000, days=90, seed=29)
    url = str(data.path)
    if "{postgresql}" in store:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database("analytics_facts_100k", template=POSTGRES_TEMPLATE)
        copy_from_sqlite(data.path, url)
    check_random_ranges(built(url), data, rounds=4, seed=31)


# --- through the store's writer -------------------------------------------------------------


@pytest.fixture(params=STORES, ids=backend)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


def test_the_writer_keeps_the_facts_of_interleaved_batches(
    empty_url: str, facts_sample: SampleData
) -> None:
    """400 sample conversations' events appended as the hub does — each conversation's events
    in order, many conversations at once, in groups of random sizes — give the figures of
    the events."""
    rng = random.Random(41)
    chosen = rng.sample(facts_sample.conversations, 400)
    source = sqlite3.connect(facts_sample.path)
    try:

        async def replay() -> None:
            async with open_store(empty_url) as store:
                for agent in source.execute(
                    "SELECT id, username, username_key, display_name, password_hash, skills,"
                    " capacity, roles, disabled, created_at FROM agents"
                ):
                    await _raw(store, "agents", agent)
                ids = [c.id for c in chosen]
                marks = ",".join("?" * len(ids))
                for visitor in source.execute(
                    "SELECT * FROM visitors WHERE id IN"
                    f" (SELECT visitor_id FROM conversations WHERE id IN ({marks}))",
                    ids,
                ):
                    await _raw(store, "visitors", visitor)
                columns = (
                    "id, visitor_id, site, topic, language, status, priority, agent_id,"
                    " last_agent_id, created_at, assigned_at, closed_at, closed_by, page_url,"
                    " rating, rating_comment, tags"
                )
                for row in source.execute(
                    f"SELECT {columns} FROM conversations WHERE id IN ({marks}) ORDER BY rowid",
                    ids,
                ):
                    await _raw(store, "conversations", row, columns)
                queues = {
                    c.id: [
                        NewEvent(c.id, e.kind, e.body, sample_iso(e.ts_ms), e.actor_role,  # type: ignore[arg-type]
                                 e.actor_id, e.actor_name, e.client_id)
                        for e in c.events
                    ]
                    for c in chosen
                }  # fmt: skip
                while queues:
                    calls = []
                    for cid in rng.sample(sorted(queues), min(40, len(queues))):
                        take = rng.randint(1, 4)
                        group, queues[cid] = queues[cid][:take], queues[cid][take:]
                        if not queues[cid]:
                            del queues[cid]
                        calls.append(store.append_many(group))
                    await asyncio.gather(*calls)

        asyncio.run(replay())
    finally:
        source.close()
    with snapshot_of(empty_url) as snap:
        rows = oracle_rows(snap, Filters())
        assert len(rows) == 400 and sum(r.transfers for r in rows) > 0
        assert sum(r.first_assigned_at is not None for r in rows) > 300
        same_figures(snap, Filters())
        for agent in snap.agents().values():
            same_figures(snap, Filters(agent=agent.username))


async def _raw(store: Any, table: str, row: tuple[Any, ...], columns: str = "") -> None:
    """Insert one row as it is, in a write transaction of the store's own."""
    names = f" ({columns})" if columns else ""
    sql = f"INSERT INTO {table}{names} VALUES ({', '.join('?' * len(row))})"

    async def work(tx: Any) -> None:
        await tx.execute(sql, row)

    await store._transaction(f"insert {table}", work)


# --- a store written before the facts -------------------------------------------------------

#: The migrations before the facts, per backend, and the columns they left on conversations.
_BEFORE = {"sqlite": 5, "postgresql": 2}
_OLD_COLUMNS = (
    "id, visitor_id, site, topic, language, status, priority, agent_id, last_agent_id,"
    " created_at, assigned_at, first_response_at, closed_at, closed_by, page_url, last_seq,"
    " rating, rating_comment, tags"
)


def _old_schema_sqlite(path: Path, sample: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for migration in load_migrations()[: _BEFORE["sqlite"]]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version VALUES (?, ?, '2026-01-01T00:00:00.000Z')",
                (migration.version, migration.name),
            )
        conn.execute("ATTACH ? AS s", (str(sample),))
        conn.execute("DELETE FROM analytics_keys")
        for table in ("agents", "visitors", "events", "analytics_keys"):
            if table == "events":
                conn.execute(
                    f"INSERT INTO conversations ({_OLD_COLUMNS})"
                    f" SELECT {_OLD_COLUMNS} FROM s.conversations ORDER BY rowid"
                )
                # What the hub wrote before: first_response_at from its own clock, if at all.
                conn.execute(
                    "UPDATE conversations SET first_response_at = NULL WHERE rowid % 3 = 0"
                )
            # The old schema's columns: later migrations add some (visitors: 0010).
            columns = _OLD_VISITOR_COLUMNS if table == "visitors" else "*"
            conn.execute(f"INSERT INTO {table} SELECT {columns} FROM s.{table} ORDER BY rowid")
    finally:
        conn.close()


#: The visitors' columns before migration 0010 (SQLite) / 0007 (PostgreSQL) added two.
_OLD_VISITOR_COLUMNS = "id, token_hash, site, name, email, created_at, last_seen_at"


def _old_schema_postgresql(url: str, sample: Path) -> None:
    source = sqlite3.connect(sample)
    try:
        with psycopg.connect(url) as conn:
            conn.execute(
                "CREATE TABLE schema_version ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            for migration in load_pg_migrations()[: _BEFORE["postgresql"]]:
                conn.execute(migration.statements[0].encode())
                conn.execute(
                    "INSERT INTO schema_version VALUES (%s, %s, '2026-01-01T00:00:00.000Z')",
                    (migration.version, migration.name),
                )
            conn.execute("DELETE FROM analytics_keys")
            for table, columns in (
                ("agents", "*"), ("visitors", _OLD_VISITOR_COLUMNS), ("conversations", _OLD_COLUMNS),
                ("events", "conversation_id, seq, ts, kind, actor_role, actor_id, actor_name,"
                           " client_id, body"),
                ("analytics_keys", "*"),
            ):  # fmt: skip
                rows = source.execute(f"SELECT {columns} FROM {table} ORDER BY rowid").fetchall()
                names = "" if columns == "*" else f" ({columns})"
                marks = ", ".join(["%s"] * len(rows[0]))
                with conn.cursor() as cur:
                    cur.executemany(f"INSERT INTO {table}{names} VALUES ({marks})", rows)
            conn.execute("UPDATE conversations SET first_response_at = NULL WHERE rowid % 3 = 0")
    finally:
        source.close()


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleData:
    path = tmp_path_factory.mktemp("before-facts") / "chat.db"
    return generate(path, conversations=800, days=10, seed=37)


@pytest.fixture(params=STORES, ids=backend)
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all (on PostgreSQL not copied from the migrated template)."""
    if "{postgresql}" not in str(request.param):
        return f"sqlite:///{tmp_path}/chat.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"before_facts_{tmp_path.name}".lower()[:60])


def test_the_migration_works_the_facts_out_of_the_stored_events(
    unmigrated_url: str, small_sample: SampleData
) -> None:
    empty_url = unmigrated_url
    if empty_url.startswith("sqlite:///"):
        _old_schema_sqlite(Path(empty_url.removeprefix("sqlite:///")), small_sample.path)
    else:
        _old_schema_postgresql(empty_url, small_sample.path)

    applied = asyncio.run(migrate_store(empty_url)).applied
    # Later migrations (0008 on SQLite, 0005 on PostgreSQL, and on) follow these two.
    assert list(applied)[:2] == (
        ["0006_conversation_facts", "0007_rollups"]
        if empty_url.startswith("sqlite")
        else ["0003_conversation_facts", "0004_rollups"]
    )
    check_random_ranges(empty_url, small_sample, rounds=10, seed=43)
    with snapshot_of(empty_url) as snap, snapshot_of(small_sample.path) as generated:
        # The very facts the generator (as the writer would) put on each row.
        assert list(snap.figure_rows(Filters())) == list(generated.figure_rows(Filters()))
        # The tag index: the dashboard's list by tag counts what the JSON lists hold.
        tags = sorted({t for c in small_sample.conversations for t in c.tags})
        counts = {tag: snap.count(Filters(tag=tag)) for tag in tags}

    async def listed() -> dict[str, int]:
        async with open_store(empty_url) as store:
            return {
                tag: (await store.conversations_page(ConversationQuery(tag=tag))).total
                for tag in tags
            }

    assert asyncio.run(listed()) == counts and sum(counts.values()) > 100
