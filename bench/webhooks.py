"""Webhooks: what the outbox costs the write path, and how delivery scales with the backlog.

1. **Write path.** (SQLite, then PostgreSQL with durable commits.) The persistence load (`bench._appends`: 2,000 producers appending messages to
   1,000 conversations through `SQLiteStore.append`, group commit) with 0 endpoints — the
   baseline, same run — then 1 and 5 endpoints taking ``message.created``: the trigger writes a
   delivery row per endpoint in each event's transaction. Ratio: events/s against 0 endpoints.
2. **Claims against the backlog.** 1,000 → 100,000 pending deliveries (one endpoint, 1,000
   conversations): the time of one `claim_deliveries` (16 heads) and of the `due_deliveries`
   look, which every process makes every second. They must not grow with the backlog.
3. **End to end.** A `Deliverer` (the hub's own sender) sends a backlog of 2,000 deliveries to a
   local HTTP server (another process, asyncio) that answers 204 at once: deliveries/s with one process, against the same
   server hit by plain httpx POSTs of the same bodies (the baseline: the HTTP cost alone).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench._appends import append_load, seed
from bench._persistence_pg import DURABLE
from chatserver.settings import Settings
from chatserver.store import SQLiteStore, WebhookEndpoint, iso_now
from chatserver.store.postgres import PostgresStore
from chatserver.webhooks import Deliverer
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import free_port

CONVERSATIONS = 1_000
PRODUCERS = 2_000


@dataclass(frozen=True, slots=True)
class Sizes:
    per_producer: int
    backlog: tuple[int, ...]
    deliveries: int
    #: PostgreSQL's write path: (producers, appends each); None: not run.
    postgresql: tuple[int, int] | None
    producers: int = PRODUCERS
    conversations: int = CONVERSATIONS
    #: Claims measured per backlog size.
    rounds: int = 20


QUICK = Sizes(10, (1_000, 10_000), 500, (100, 10))
FULL = Sizes(50, (1_000, 10_000, 100_000), 2_000, (400, 25))


def _endpoint(n: int, url: str = "https://hooks.example.com/x") -> WebhookEndpoint:
    now = iso_now()
    return WebhookEndpoint(f"w{n}", url, "whsec_bench", ("message.created",), now, now)


async def _write_path(folder: Path, endpoints: int, sizes: Sizes) -> dict[str, Any]:
    async with SQLiteStore(folder / f"w{endpoints}.db") as store:
        conversations = await seed(store, sizes.conversations)
        for n in range(endpoints):
            await store.add_webhook(_endpoint(n))
        result = await append_load(store, conversations, sizes.producers, sizes.per_producer)
        result["deliveries"] = sum(sum(c.values()) for c in (await store.webhook_counts()).values())
        return result


async def _write_path_pg(
    url: str, endpoints: int, producers: int, per_producer: int
) -> dict[str, Any]:
    async with PostgresStore(url) as store:
        conversations = await seed(store, producers // 2)
        for n in range(endpoints):
            await store.add_webhook(_endpoint(n))
        return await append_load(store, conversations, producers, per_producer)


def _postgres(producers: int, per_producer: int) -> dict[str, Any]:
    """The write path on PostgreSQL (durable commits), 0, 1 and 5 endpoints, a database each."""
    out: dict[str, Any] = {}
    with PostgresServer(settings=DURABLE) as server:
        try:
            for n in (0, 1, 5):
                url = server.create_database(f"hooks{n}")
                out[f"{n}_endpoints"] = asyncio.run(_write_path_pg(url, n, producers, per_producer))
        finally:
            server.kill()
    base = out["0_endpoints"]["events_per_s"]
    for figures in out.values():
        figures["ratio_to_0"] = round(figures["events_per_s"] / base, 2)
    return out


async def _backlog(folder: Path, sizes: Sizes) -> list[dict[str, Any]]:
    out = []
    async with SQLiteStore(folder / "backlog.db") as store:
        conversations = await seed(store, sizes.conversations)
        await store.add_webhook(_endpoint(0))
        made = 0
        for size in sizes.backlog:
            per_conv = (size - made) // sizes.conversations
            for i in range(per_conv):
                await asyncio.gather(
                    *(
                        store.append(
                            c, "message", {"text": f"m{i}"}, ts=iso_now(), actor_role="visitor"
                        )
                        for c in conversations
                    )
                )
            made = size
            looks, claims = [], []
            for round_ in range(sizes.rounds):
                started = time.perf_counter()
                await store.due_deliveries(time.time())
                looks.append(time.perf_counter() - started)
                started = time.perf_counter()
                got = await store.claim_deliveries(
                    now=time.time(), owner=f"b{size}-{round_}", lease_s=3600, limit=16
                )
                claims.append(time.perf_counter() - started)
                # Each claim leases one head per conversation (until the reset below).
                assert len(got) == min(16, max(0, sizes.conversations - 16 * round_))
            out.append(
                {
                    "pending": size,
                    "due_look_ms": round(statistics.median(looks) * 1000, 3),
                    "claim_ms": round(statistics.median(claims) * 1000, 3),
                }
            )
            # The leases of this size's claims must not hide heads from the next: release them.
            await store._transaction(
                "bench reset",
                lambda tx: tx.execute("UPDATE webhook_deliveries SET lease_until = 0"),
            )
    return out


async def _serve_204(port: int) -> None:
    """A minimal HTTP/1.1 receiver (keep-alive, answers 204 at once): its cost must not hide
    the sender's."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _receiver(port: int) -> None:
    asyncio.run(_serve_204(port))


async def _end_to_end(folder: Path, count: int) -> dict[str, Any]:
    port = free_port()
    receiver = multiprocessing.get_context("spawn").Process(
        target=_receiver, args=(port,), daemon=True
    )
    receiver.start()
    url = f"http://127.0.0.1:{port}/hook"
    deadline = time.monotonic() + 10
    while True:  # until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    try:
        settings = Settings(data_dir=folder, webhook_allow_networks=("127.0.0.0/8",))
        async with SQLiteStore(folder / "e2e.db") as store:
            conversations = await seed(store, min(100, count))
            await store.add_webhook(_endpoint(0, url))
            for i in range(count // len(conversations)):
                await asyncio.gather(
                    *(
                        store.append(
                            c, "message", {"text": f"m{i}"}, ts=iso_now(), actor_role="visitor"
                        )
                        for c in conversations
                    )
                )
            deliverer = Deliverer(store, settings, owner="bench")
            started = time.perf_counter()
            sent = 0
            while sent < count:
                sent += await deliverer.round()
            elapsed = time.perf_counter() - started
            await deliverer.close()
            bodies = [
                (d.body or "").encode() for d in await store.webhook_deliveries("w0", limit=count)
            ]
        async with httpx.AsyncClient() as http:
            semaphore = asyncio.Semaphore(16)

            async def post(body: bytes) -> None:
                async with semaphore:
                    await http.post(url, content=body, headers={"Content-Type": "application/json"})

            started = time.perf_counter()
            await asyncio.gather(*(post(b) for b in bodies))
            baseline = time.perf_counter() - started
    finally:
        receiver.kill()
        receiver.join()
    return {
        "deliveries": count,
        "deliveries_per_s": round(count / elapsed),
        "baseline_posts_per_s": round(count / baseline),
        "ratio_to_baseline": round((count / elapsed) / (count / baseline), 2),
    }


async def _run(sizes: Sizes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write = {n: await _write_path(folder, n, sizes) for n in (0, 1, 5)}
        backlog = await _backlog(folder, sizes)
        e2e = await _end_to_end(folder, sizes.deliveries)
    base = write[0]["events_per_s"]
    for figures in write.values():
        figures["ratio_to_0"] = round(figures["events_per_s"] / base, 2)
    first, last = backlog[0]["claim_ms"], backlog[-1]["claim_ms"]
    return {
        "write_path": {f"{n}_endpoints": r for n, r in write.items()},
        "backlog": backlog,
        "end_to_end": e2e,
        "baseline": write[0],
        "ratio": write[1]["ratio_to_0"],
        "ratio_of": "events/s with one endpoint taking every message / with none (SQLite)",
        "targets": {
            "one_endpoint_costs_under_30pct": write[1]["ratio_to_0"] >= 0.7,
            "claims_flat_with_backlog": last <= 3 * first + 0.5,
        },
    }


def measure(sizes: Sizes) -> dict[str, Any]:
    result = asyncio.run(_run(sizes))
    if sizes.postgresql is not None:
        result["write_path_postgresql"] = _postgres(*sizes.postgresql)
    return result


def run(quick: bool) -> dict[str, Any]:
    return measure(QUICK if quick else FULL)
