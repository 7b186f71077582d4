"""The parts of the `Store` written once in SQL, for SQLite and PostgreSQL alike.

One module per part of the protocol, each a mixin over `SQLPart` (``part.py``): its SQL and its
logic, with ``?`` placeholders and the few phrases the backends spell differently taken from
the backend's `Dialect` (``dialect.py``). A backend composes `SQLParts` with its connection
base, which supplies the dialect, the reads, the write transactions (a `Tx`), the group-commit
writer and its own steps (SQLite's ``secure_delete`` and WAL checkpoint after a deletion):

- ``transcripts.py`` the event log (appends through the backend's ``_writer.py``)
- ``accounts.py`` agents and tokens
- ``conversations.py`` visitors, conversations, routing decisions
- ``lifecycle.py`` audit log, purges, deletion requests
- ``canned.py`` canned responses
- ``routing_documents.py`` the routing document
- ``dashboard.py`` the dashboard's conversation list (one snapshot, a sans-I/O `Plan`)
- ``rollups.py`` the rollups' write side (their reads are the snapshots')
- ``webhooks.py`` webhook endpoints and the outbox of their deliveries
- ``api_keys.py`` the REST API's keys
- ``bots.py`` bots that answer a topic's conversations first
"""

from __future__ import annotations

from .accounts import AccountsPart
from .api_keys import ApiKeysPart
from .bots import BotsPart
from .canned import CannedPart
from .conversations import ConversationsPart
from .dashboard import DashboardPart
from .dialect import Dialect, Params, Plan, Row, Tx
from .lifecycle import LifecyclePart
from .part import SQLPart
from .rollups import RollupsPart
from .routing_documents import RoutingDocumentsPart
from .transcripts import TranscriptsPart
from .webhooks import WebhooksPart

__all__ = ["Dialect", "Params", "Plan", "Row", "SQLPart", "SQLParts", "Tx"]


class SQLParts(
    TranscriptsPart,
    AccountsPart,
    ConversationsPart,
    LifecyclePart,
    CannedPart,
    RoutingDocumentsPart,
    DashboardPart,
    RollupsPart,
    WebhooksPart,
    ApiKeysPart,
    BotsPart,
):
    """Every part; a backend's store is ``class XStore(SQLParts, XBase)``."""
