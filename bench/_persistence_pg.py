"""Transcript persistence on PostgreSQL: events/s through `PostgresStore.append` (group commit,
the ack after the commit) at several concurrency levels, against psycopg writing the same rows
as plainly as it can, on the same cluster in the same run.

The cluster is a private one (`tests.support.postgres_server.PostgresServer`, as the suite's)
made durable for the measure: ``fsync``, ``full_page_writes`` and ``synchronous_commit`` on, so
every COMMIT waits for its WAL to reach the disk, as in production (the suite's clusters run
with ``fsync=off``). The store runs with its defaults (a pool of 10, ``max_batch=1000``).

Per level: ``producers`` appenders (two per conversation, `bench._appends`), each awaiting its
ack before the next; events/s, append p50/p99, the mean batch. Baselines, same run, same
cluster, the very rows the store wrote at the largest level in commit order, into the same
table (the same schema, indexes and conversations), emptied before each run as before each
level:

- ``executemany``: psycopg ``executemany`` of INSERTs, one transaction per ``max_batch`` rows —
  the driver's plain ceiling; ``ratio_to_executemany`` is the store's rate at the largest
  level against it (each the best of ``runs`` alternate runs, as the export benchmark does);
- ``copy``: ``COPY … FROM STDIN``, one transaction per ``max_batch`` rows — the fastest way in;
- ``per_message``: one transaction per row (an autocommit INSERT) from as many connections as
  the store's pool — appending without group commit, each message its own WAL flush;
  ``gain_over_per_message`` is what group commit buys.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from psycopg import AsyncConnection

from bench._appends import append_load, seed
from chatserver.store.postgres import PostgresStore
from tests.support.postgres_server import PostgresServer

DURABLE = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}
MAX_BATCH = 1000  # the store's default
POOL = 10  # the store's default max_connections
Row = tuple[Any, ...]
COLUMNS = "conversation_id, seq, ts, kind, actor_role, actor_id, actor_name, client_id, body"


@dataclass(frozen=True)
class Sizes:
    """Per level: (producers, appends each). ``runs``: how often the largest level and its
    batched baselines are run, alternately (the best of each counts). ``per_message_rows``:
    the rows of the per-message baseline (it is slow: a share of the largest level's)."""

    levels: tuple[tuple[int, int], ...]
    runs: int
    per_message_rows: int


FULL = Sizes(levels=((20, 250), (200, 100), (2000, 25)), runs=3, per_message_rows=5_000)
QUICK = Sizes(levels=((20, 100), (200, 25), (2000, 5)), runs=3, per_message_rows=2_000)


def run_postgres(sizes: Sizes) -> dict[str, Any]:
    load = os.getloadavg()[0]  # other work on the machine skews the figures: say how much
    with PostgresServer(settings=DURABLE) as server:
        try:
            figures = asyncio.run(_run(server.create_database("bench"), sizes))
        finally:
            server.kill()  # its data is of no further use: no shutdown checkpoint to wait for
    return {**figures, "loadavg_1m_before": round(load, 2)}


async def _run(url: str, sizes: Sizes) -> dict[str, Any]:
    conversations = max(producers for producers, _ in sizes.levels) // 2
    # Seeding is set-up, not measured: its commits need not wait for the disk.
    async with PostgresStore(f"{url}?options={quote('-c synchronous_commit=off')}") as store:
        ids = await seed(store, conversations)

    async def level(producers: int, per_producer: int) -> tuple[dict[str, Any], list[Row]]:
        await _empty(url)  # every level and baseline starts from the same empty table
        async with PostgresStore(url, max_batch=MAX_BATCH, max_connections=POOL) as store:
            figures = await append_load(store, ids[: producers // 2], producers, per_producer)
        async with await AsyncConnection.connect(url) as conn:
            cursor = await conn.execute(f"SELECT {COLUMNS} FROM events ORDER BY rowid".encode())
            rows = await cursor.fetchall()  # the level's rows, in commit order
        if len(rows) != figures["events"]:  # every ack is a stored row, nothing else
            raise AssertionError(f"stored {len(rows)} rows for {figures['events']} acks")
        return {"producers": producers, **figures}, rows

    per_size = [(await level(*size))[0] for size in sizes.levels[:-1]]
    tops: list[dict[str, Any]] = []
    many: list[dict[str, Any]] = []
    copied: list[dict[str, Any]] = []
    for _ in range(sizes.runs):  # alternately: a busy stretch of the machine skews all alike
        top, rows = await level(*sizes.levels[-1])
        tops.append(top)
        await _empty(url)
        many.append(await _batched(url, rows, copy=False))
        await _empty(url)
        copied.append(await _batched(url, rows, copy=True))
    await _empty(url)
    single = await _per_message(url, rows[: sizes.per_message_rows])
    top, best_many, best_copy = (
        max(r, key=lambda f: f["events_per_s"]) for r in (tops, many, copied)
    )
    per_size.append(top)
    return {
        "durable": "fsync, full_page_writes, synchronous_commit on",
        **top,
        "runs": sizes.runs,
        "per_size": per_size,
        "executemany_events_per_s": best_many["events_per_s"],
        "copy_events_per_s": best_copy["events_per_s"],
        "per_message_events_per_s": single["events_per_s"],
        "ratio_to_executemany": round(top["events_per_s"] / best_many["events_per_s"], 3),
        "ratio_to_copy": round(top["events_per_s"] / best_copy["events_per_s"], 3),
        "gain_over_per_message": round(top["events_per_s"] / single["events_per_s"], 1),
        "every_run": {
            "store": [r["events_per_s"] for r in tops],
            "executemany": [r["events_per_s"] for r in many],
            "copy": [r["events_per_s"] for r in copied],
        },
        "baseline": {"executemany": best_many, "copy": best_copy, "per_message": single},
    }


async def _empty(url: str) -> None:
    """No events, every conversation's ``last_seq`` back to 0."""
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute(b"TRUNCATE events")
            await conn.execute(b"UPDATE conversations SET last_seq = 0")


async def _batched(url: str, rows: list[Row], *, copy: bool) -> dict[str, Any]:
    """One connection, one transaction per ``MAX_BATCH`` rows: ``executemany`` or ``COPY``."""
    insert = f"INSERT INTO events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for i in range(0, len(rows), MAX_BATCH):
            async with conn.transaction():
                async with conn.cursor() as cursor:
                    if copy:
                        async with cursor.copy(f"COPY events ({COLUMNS}) FROM STDIN") as out:
                            for row in rows[i : i + MAX_BATCH]:
                                await out.write_row(row)
                    else:
                        await cursor.executemany(insert.encode(), rows[i : i + MAX_BATCH])
        elapsed = time.perf_counter() - started
        await _check_stored(conn, len(rows))
    return {"events": len(rows), "events_per_s": round(len(rows) / elapsed), "batch": MAX_BATCH}


async def _per_message(url: str, rows: list[Row]) -> dict[str, Any]:
    """``POOL`` connections, each inserting its share of the rows one autocommit INSERT (so one
    transaction, one WAL flush) at a time: appending without group commit."""
    insert = f"INSERT INTO events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    conns = [await AsyncConnection.connect(url, autocommit=True) for _ in range(POOL)]
    try:

        async def writer(conn: AsyncConnection[Any], share: list[Row]) -> None:
            for row in share:
                await conn.execute(insert.encode(), row)

        started = time.perf_counter()
        await asyncio.gather(*(writer(c, rows[n::POOL]) for n, c in enumerate(conns)))
        elapsed = time.perf_counter() - started
        await _check_stored(conns[0], len(rows))
    finally:
        for conn in conns:
            await conn.close()
    return {"events": len(rows), "events_per_s": round(len(rows) / elapsed), "connections": POOL}


async def _check_stored(conn: AsyncConnection[Any], events: int) -> None:
    """Raise unless the baseline's database holds exactly ``events`` events."""
    cursor = await conn.execute(b"SELECT count(*) FROM events")
    (count,) = await cursor.fetchone() or (0,)
    if count != events:
        raise AssertionError(f"a baseline stored {count} rows of {events}")
