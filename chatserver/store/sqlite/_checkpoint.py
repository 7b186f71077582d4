"""WAL checkpoints off the commit path: a connection of their own, on a thread of their own.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies them back into
the database file and syncs both files. Left to itself SQLite checkpoints inside a COMMIT
(``wal_autocheckpoint``), so every few thousand pages one batch's commit waits for the copy
and two ``fsync`` calls — 25–40 ms on a busy store, and every caller in that batch (and every
batch queued behind it) waits with it.

`Checkpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` from its own aiosqlite connection
every ``interval`` seconds while the writer is committing. A passive checkpoint never blocks
a writer or a reader: the writer goes on appending while it copies, and the next write
transaction after a complete checkpoint starts the log again from the beginning. The
writer's own ``wal_autocheckpoint`` stays as the backstop: if the log outgrows it anyway (a
reader holding an old snapshot, a checkpoint that could not keep up), the writer's commit
checkpoints what is left, as before.

Several processes on one file each run one; two checkpoints at once do not conflict (the
second reports itself busy and is simply tried again next time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

__all__ = ["CheckpointStats", "Checkpointer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckpointStats:
    """Background checkpoints since the store opened: how many ran, how many found another
    checkpoint (or a reader) in the way, and the pages they copied into the database."""

    runs: int
    busy: int
    pages: int


class Checkpointer:
    """Checkpoints ``conn``'s database every ``interval`` s if ``progress()`` moved since the
    last look (a count of the writer's commits); owns ``conn`` and closes it."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        interval: float,
        progress: Callable[[], int],
    ) -> None:
        self._conn = conn
        self._interval = interval
        self._progress = progress
        self._runs = self._busy = self._pages = 0
        self._seen = progress()
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    @property
    def stats(self) -> CheckpointStats:
        return CheckpointStats(self._runs, self._busy, self._pages)

    async def checkpoint(self) -> None:
        """One passive checkpoint now (errors are logged: the writer's backstop remains)."""
        try:
            rows = await self._conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("wal checkpoint failed", extra={"error": str(exc)})
            return
        busy, _log_pages, copied = next(iter(rows))
        self._runs += 1
        self._busy += int(busy)
        self._pages += max(0, int(copied))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            now = self._progress()
            if now != self._seen:
                self._seen = now
                await self.checkpoint()

    async def close(self) -> None:
        """End the task and close the connection."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._conn.close()
