"""The append load both persistence benchmarks put on a store: conversations seeded through the
store's own API, then producers (asyncio tasks, two per conversation: the visitor and the agent)
appending ~150-byte messages with a client_id, each awaiting its ack before sending the next,
as the hub does."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from chatserver.store import ConversationRecord, SQLiteStore, Store, VisitorRecord, iso_now
from chatserver.store.postgres import PostgresStore

TEXT = (
    "Hello! I was charged twice for my subscription this month and would like a refund for"
    " the second payment, please. Order #"
)


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]


async def seed(store: Store, conversations: int) -> list[str]:
    """``conversations`` active conversations of one visitor; their ids."""
    now = iso_now()
    await store.add_visitor(VisitorRecord(id="v-bench", token_hash="t", site="s", created_at=now))
    ids = [f"conv-{i:05d}" for i in range(conversations)]
    for cid in ids:
        await store.add_conversation(
            ConversationRecord(
                id=cid,
                visitor_id="v-bench",
                site="s",
                topic="billing",
                language="en",
                status="active",
                created_at=now,
            )
        )
    return ids


async def append_load(
    store: SQLiteStore | PostgresStore, conversations: list[str], producers: int, per_producer: int
) -> dict[str, Any]:
    """``producers`` tasks over ``conversations`` (round robin), ``per_producer`` appends each,
    every one awaited before the next. Events/s, append p50/p99 and the mean batch (the
    store's ``stats``: batches committed, events stored)."""
    ts = iso_now()
    latencies: list[float] = []

    async def producer(n: int) -> None:
        conv = conversations[n % len(conversations)]
        prefix = str(uuid.uuid4())[:28]
        clock = time.perf_counter
        record = latencies.append
        append = store.append
        for i in range(per_producer):
            body = {"text": f"{TEXT}{n:05d}-{i:05d}"}
            started = clock()
            await append(
                conv, "message", body, ts=ts, actor_role="visitor", client_id=f"{prefix}{i:08d}"
            )
            record(clock() - started)

    before = store.stats
    started = time.perf_counter()
    await asyncio.gather(*(producer(n) for n in range(producers)))
    elapsed = time.perf_counter() - started
    after = store.stats
    events = after.events - before.events
    batches = after.batches - before.batches
    latencies.sort()
    return {
        "events": events,
        "events_per_s": round(events / elapsed),
        "append_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "append_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "batch_mean": round(events / batches, 1) if batches else 0.0,
    }
