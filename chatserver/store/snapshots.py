"""`SnapshotSource`: where analytics' read-only snapshots read from.

Exports, the figures (``chatserver report``, ``/api/v1/analytics/*``) and the dashboard's
charts are long sequential scans. They do not go through the store's own connections: a
`chatserver.analytics.source.Snapshot` opens the database file read-only (``query_only``) and
holds one read transaction for its whole life, in a worker thread, so a scan of a fortnight
never delays the hub. That read model is SQL over this schema, so the part is SQLite's: a store
on another database would bring its own read model before analytics could run on it.

Guarantees:

Committed only
    A snapshot of `database_path` sees exactly the transactions committed before its first read
    (WAL readers never block the writer, nor does the writer block them).
Same database
    `database_path` names the file this store writes, the same in every process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

__all__ = ["SnapshotSource"]


class SnapshotSource(Protocol):
    """The database file analytics' snapshots open read-only."""

    @property
    def database_path(self) -> Path:
        """The SQLite file (it exists once the store has been opened)."""
        ...
