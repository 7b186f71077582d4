"""Fair turns at SQLite's write lock for the processes sharing one database file.

SQLite's write lock is not fair: a process that commits and at once begins again (as a busy
group-commit writer does) wins the race against a process sleeping in its busy handler, which
may then wait until ``busy_timeout`` and fail. The turnstile is an exclusive ``flock`` on
``<database>-turn`` that a writer holds only while it *waits for* the write lock: taken before
``BEGIN IMMEDIATE``, released once the BEGIN has returned. A process that wants the lock while
another holds it takes the turnstile and keeps it; the holder, done with its transaction, finds
the turnstile taken and waits for it, so the waiting process gets the write lock next.

Uncontended it costs two system calls per transaction. Where ``fcntl`` does not exist there is
no turnstile and the write lock is taken as SQLite gives it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["Turnstile", "open_turnstile"]


class Turnstile:
    """An exclusive ``flock`` on a small file beside the database (per open, per store)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    async def acquire(self) -> None:
        fd = self._require_fd()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is next in line: wait in a thread
            await asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)

    def acquire_blocking(self) -> None:
        """`acquire` for a thread of its own: waits in the ``flock`` call itself."""
        fcntl.flock(self._require_fd(), fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._require_fd(), fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require_fd(self) -> int:
        if self._fd is None:
            raise RuntimeError("the turnstile is closed")
        return self._fd


def open_turnstile(database: Path) -> Turnstile | None:
    """The turnstile of ``database``, or None where file locks are not available."""
    if fcntl is None:  # pragma: no cover
        return None
    return Turnstile(database.with_name(database.name + "-turn"))
