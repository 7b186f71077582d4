"""Bodies of the child processes the store tests spawn (importable, hence a module).

``path`` is a SQLite file, or a ``postgresql://`` URL (see `_store`)."""

from __future__ import annotations

import asyncio
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from chatserver.store import SQLiteStore, Store, UnavailableError, iso_now


def _store(path: str, **sqlite_options: Any) -> Store:
    """The store at ``path``: PostgreSQL for a postgresql:// URL (``max_batch`` applies to
    both), else a SQLite file with ``sqlite_options``."""
    if path.startswith("postgresql://"):
        from chatserver.store.postgres import PostgresStore

        return PostgresStore(path, max_batch=sqlite_options.get("max_batch", 1000))
    return SQLiteStore(path, **sqlite_options)


def open_at_once(path: str, go: Event, out: Connection) -> None:
    """Open (and so migrate) the file as soon as ``go`` is set, close it, report "ok"."""

    async def main() -> None:
        go.wait()
        store = _store(path)
        await store.open()
        await store.close()

    asyncio.run(main())
    out.send("ok")
    out.close()


def append_concurrently(
    path: str, conversations: list[str], name: str, per_task: int, go: Event, out: Connection
) -> None:
    """Open the store, say "ready", wait for ``go``, then append from 20 tasks; send back the
    acks as (conversation_id, seq, client_id) in the order they returned."""

    async def main() -> list[tuple[str, int, str]]:
        async with _store(path, max_batch=32) as store:
            out.send("ready")
            go.wait()

            async def task(t: int) -> list[tuple[str, int, str]]:
                acked = []
                for i in range(per_task):
                    conv = conversations[(t + i) % len(conversations)]
                    cid = f"{name}-{t}-{i}"
                    event = await store.append(
                        conv, "message", {"text": cid}, ts=iso_now(), actor_role="visitor",
                        client_id=cid,
                    )  # fmt: skip
                    acked.append((event.conversation_id, event.seq, cid))
                return acked

            results = await asyncio.gather(*(task(t) for t in range(20)))
            return [row for rows in results for row in rows]

    out.send(asyncio.run(main()))
    out.close()


def append_until_killed(path: str, conversation: str, out: Connection, kill_self: bool) -> None:
    """Append forever from 10 tasks, sending each ack (seq, client_id) as soon as it returns.

    With ``kill_self`` the process SIGKILLs itself right after its first append returns and
    its ack is sent, before anything else happens (no close, no flush, no further commit).
    """

    async def main() -> None:
        store = _store(path)
        await store.open()

        async def task(t: int) -> None:
            i = 0
            while True:
                cid = f"{t}-{i}"
                event = await store.append(
                    conversation, "message", {"text": cid}, ts=iso_now(), actor_role="visitor",
                    client_id=cid,
                )  # fmt: skip
                out.send((event.seq, cid))
                if kill_self:
                    os.kill(os.getpid(), signal.SIGKILL)
                i += 1

        await asyncio.gather(*(task(t) for t in range(10)))

    asyncio.run(main())


def append_for(
    path: str, conversations: list[str], seconds: float, busy_timeout: float, out: Connection
) -> None:
    """Append from 200 tasks for ``seconds``; send (stored, unavailable errors, slowest s)."""

    async def main() -> tuple[int, int, float]:
        async with SQLiteStore(path, busy_timeout=busy_timeout) as store:
            out.send("ready")
            stored = errors = 0
            slowest = 0.0
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds

            async def task(t: int) -> None:
                nonlocal stored, errors, slowest
                while (started := loop.time()) < end:
                    conv = conversations[t % len(conversations)]
                    try:
                        await store.append(
                            conv, "message", {"text": "x" * 100}, ts=iso_now(), actor_role="agent"
                        )
                        stored += 1
                    except UnavailableError:
                        errors += 1
                    slowest = max(slowest, loop.time() - started)

            await asyncio.gather(*(task(t) for t in range(200)))
            return stored, errors, slowest

    out.send(asyncio.run(main()))
    out.close()
