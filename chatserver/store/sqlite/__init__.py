"""`SQLiteStore`: the `Store` on one SQLite file, shared by the hub's processes.

The parts are written once in ``sql/``, for both backends; this package is what only SQLite
has — `SQLiteBase` (``connection.py``: the connections, the pragmas, the dialect, the reads,
the write transactions, ``secure_delete`` and the WAL checkpoint after a deletion), and:

- ``_writer.py`` the group-commit writer (appends planned by ``_batch.py``)
- ``snapshot.py`` analytics' read model (`SnapshotSource`): one read transaction, forced plans
- ``_checkpoint.py`` background WAL checkpoints
- ``_turnstile.py`` the cross-process write lock
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sql import SQLParts
from ._checkpoint import CheckpointStats
from ._writer import WriterStats
from .connection import SQLiteBase

if TYPE_CHECKING:
    from ..interface import Store

__all__ = ["CheckpointStats", "SQLiteStore", "WriterStats"]


class SQLiteStore(SQLParts, SQLiteBase):
    """The `Store` on a SQLite file (WAL, group commit, multi-process safe)."""


if TYPE_CHECKING:
    _implements: type[Store] = SQLiteStore  # mypy proves SQLiteStore is a whole Store
