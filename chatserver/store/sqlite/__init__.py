"""`SQLiteStore`: the `Store` on one SQLite file, shared by the hub's processes.

One module per part of the protocol, each a mixin over `SQLiteBase` (``connection.py``: the
connections, the pragmas, the group-commit writer and the read/write plumbing):

- ``transcripts.py`` the event log (appends through ``_writer.py``/``_batch.py``)
- ``accounts.py`` agents and tokens
- ``conversations.py`` visitors, conversations, routing decisions
- ``lifecycle.py`` audit log, purges, deletion requests
- ``canned.py`` canned responses
- ``routing_documents.py`` the routing document
- ``dashboard.py`` the dashboard's conversation list (a read-only connection per call)
- ``snapshot.py`` analytics' read model (`SnapshotSource`): one read transaction, forced plans
- ``_codec.py`` rows to records and back; ``_checkpoint.py`` background WAL checkpoints;
  ``_turnstile.py`` the cross-process write lock
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._checkpoint import CheckpointStats
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

__all__ = ["CheckpointStats", "SQLiteStore", "WriterStats"]


class SQLiteStore(
    TranscriptsPart,
    AccountsPart,
    ConversationsPart,
    LifecyclePart,
    CannedPart,
    RoutingDocumentsPart,
    DashboardPart,
):
    """The `Store` on a SQLite file (WAL, group commit, multi-process safe)."""


if TYPE_CHECKING:
    _implements: type[Store] = SQLiteStore  # mypy proves SQLiteStore is a whole Store
