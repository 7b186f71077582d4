"""`Store`: every part of the hub's durable state in one protocol, and `TranscriptStore`, the
part the chat core uses.

Each part is a protocol in a small module whose docstring states what it guarantees:

=========================  ============================================================
`Transcripts`              open/close/flush; the event log (durability, atomicity, seq
                           order, idempotency, concurrency) — ``transcripts.py``
`Accounts`                 agents and bearer tokens — ``accounts.py``
`Conversations`            visitors, conversations, routing decisions — ``conversations.py``
`DataLifecycle`            audit log, retention purge, deletion requests — ``lifecycle.py``
`CannedResponses`          the console's canned replies and tag suggestions — ``canned.py``
`RoutingDocuments`         the edited routing document, compare-and-set — ``routing_documents.py``
`DashboardQueries`         the dashboard's conversation list — ``dashboard.py``
`Rollups`                  the figures of whole past days, kept by analytics — ``rollups.py``
`Webhooks`                 webhook endpoints and the outbox of their deliveries —
                           ``webhooks.py``
`SnapshotSource`           analytics' read model: consistent read-only snapshots —
                           ``snapshots.py``
`ApiKeys`                  the REST API's keys, stored hashed — ``api_keys.py``
`Bots`                     bots that answer a topic's conversations first — ``bots.py``
=========================  ============================================================

Records and errors are shared by all parts (``base.py``). `open_store` builds a `Store` from
a URL; `SQLiteStore` (``sqlite/``) and `PostgresStore` (``postgres/``) implement every part,
and the contract tests in ``tests/chatserver/store`` run against what `open_store` returns.
"""

from __future__ import annotations

from typing import Protocol, Self

from .accounts import Accounts
from .api_keys import ApiKeys
from .bots import Bots
from .canned import CannedResponses
from .conversations import Conversations
from .dashboard import DashboardQueries
from .lifecycle import DataLifecycle
from .rollups import Rollups
from .routing_documents import RoutingDocuments
from .snapshots import SnapshotSource
from .transcripts import Transcripts
from .webhooks import Webhooks

__all__ = ["Store", "TranscriptStore"]


class TranscriptStore(Transcripts, Accounts, Conversations, Protocol):
    """What the chat core needs: the event log, accounts, visitors and conversations."""


class Store(
    TranscriptStore,
    DataLifecycle,
    CannedResponses,
    RoutingDocuments,
    DashboardQueries,
    Rollups,
    Webhooks,
    SnapshotSource,
    ApiKeys,
    Bots,
    Protocol,
):
    """The hub's whole durable state: every part above, from one object; ``async with`` opens
    and closes it."""

    async def __aenter__(self) -> Self:
        """`open`, then the store itself."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """`close`."""
