"""`PostgresStore`: the `Store` on PostgreSQL, shared by hub processes on any number of hosts.

The parts are written once in ``sql/``, for both backends; this package is what only
PostgreSQL has — `PostgresBase` (``connection.py``: the pool, the migrations, the dialect, the
reads, the write transactions), and:

- ``_writer.py`` the group-commit writer (appends planned by SQLite's sans-I/O
  ``_batch.BatchPlanner``)
- ``_migrate.py`` the schema (``migrations/postgresql/``) under an advisory lock;
  ``_errors.py`` psycopg's errors as the store's

Rows are read and written with the shared codec (``sql/_codec.py``): the same column values,
JSON as text, so both stores hold the same bytes. ``snapshot.py`` is analytics' read model
(`SnapshotSource`): a synchronous connection of its own, one repeatable-read transaction,
server-side cursors; ``copy_in.py`` copies a SQLite store's rows in (COPY).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sql import SQLParts
from ._writer import WriterStats
from .connection import PostgresBase

if TYPE_CHECKING:
    from ..interface import Store

__all__ = ["PostgresStore", "WriterStats"]


class PostgresStore(SQLParts, PostgresBase):
    """The `Store` on PostgreSQL (a connection pool, group commit, multi-host safe)."""


if TYPE_CHECKING:
    _implements: type[Store] = PostgresStore  # mypy proves PostgresStore is a whole Store
