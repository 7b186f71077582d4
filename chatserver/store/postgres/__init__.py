"""`PostgresStore`: the `Store` on PostgreSQL, shared by hub processes on any number of hosts.

One module per part of the protocol, each a mixin over `PostgresBase` (``connection.py``: the
pool, the migrations, the group-commit writer and the read/write plumbing):

- ``transcripts.py`` the event log (appends through ``_writer.py``, planned by SQLite's
  sans-I/O ``_batch.BatchPlanner``)
- ``accounts.py`` agents and tokens
- ``conversations.py`` visitors, conversations, routing decisions
- ``lifecycle.py`` audit log, purges, deletion requests
- ``canned.py`` canned responses
- ``routing_documents.py`` the routing document
- ``dashboard.py`` the dashboard's conversation list
- ``_migrate.py`` the schema (``migrations/postgresql/``) under an advisory lock;
  ``_errors.py`` psycopg's errors as the store's

Rows are read and written with SQLite's codec (``sqlite/_codec.py``): the same column values,
JSON as text, so both stores hold the same bytes. ``snapshot.py`` is analytics' read model
(`SnapshotSource`): a synchronous connection of its own, one repeatable-read transaction,
server-side cursors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._writer import WriterStats
from .accounts import AccountsPart
from .canned import CannedPart
from .conversations import ConversationsPart
from .dashboard import DashboardPart
from .lifecycle import LifecyclePart
from .routing_documents import RoutingDocumentsPart
from .transcripts import TranscriptsPart

if TYPE_CHECKING:
    from ..interface import Store

__all__ = ["PostgresStore", "WriterStats"]


class PostgresStore(
    TranscriptsPart,
    AccountsPart,
    ConversationsPart,
    LifecyclePart,
    CannedPart,
    RoutingDocumentsPart,
    DashboardPart,
):
    """The `Store` on PostgreSQL (a connection pool, group commit, multi-host safe)."""


if TYPE_CHECKING:
    _implements: type[Store] = PostgresStore  # mypy proves PostgresStore is a whole Store
