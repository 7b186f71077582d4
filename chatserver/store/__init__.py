"""The hub's durable state: one `Store` protocol composed of parts, each with its guarantees
written down (see ``interface.py``), opened from a URL by `open_store`."""

from .accounts import Accounts
from .base import (
    AgentRecord,
    AuditEntry,
    CannedResponse,
    ConflictError,
    ConversationRecord,
    DecisionRecord,
    ForgetResult,
    NewEvent,
    NotFoundError,
    PurgeResult,
    RoutingDocument,
    StoredEvent,
    StoreError,
    TokenRecord,
    UnavailableError,
    VisitorRecord,
    iso_now,
)
from .canned import CannedResponses
from .conversations import Conversations
from .dashboard import (
    BadCursor,
    ConversationQuery,
    ConversationRow,
    ConversationsPage,
    DashboardQueries,
    PageCursor,
)
from .interface import Store, TranscriptStore
from .lifecycle import DataLifecycle
from .open import open_store
from .rollups import RollupCell, Rollups, RollupTodo, RollupUnit
from .routing_documents import RoutingDocuments
from .snapshots import BadSelection, Cursor, Filters, ReadSnapshot, SnapshotSource
from .sqlite import SQLiteStore, WriterStats
from .transcripts import Transcripts
from .webhooks import (
    WEBHOOK_TYPES,
    DeliveryOutcome,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    Webhooks,
)

__all__ = [
    "WEBHOOK_TYPES",
    "Accounts",
    "AgentRecord",
    "AuditEntry",
    "BadCursor",
    "BadSelection",
    "CannedResponse",
    "CannedResponses",
    "ConflictError",
    "ConversationQuery",
    "ConversationRecord",
    "ConversationRow",
    "Conversations",
    "ConversationsPage",
    "Cursor",
    "DashboardQueries",
    "DataLifecycle",
    "DecisionRecord",
    "DeliveryOutcome",
    "Filters",
    "ForgetResult",
    "NewEvent",
    "NotFoundError",
    "PageCursor",
    "PurgeResult",
    "ReadSnapshot",
    "RollupCell",
    "RollupTodo",
    "RollupUnit",
    "Rollups",
    "RoutingDocument",
    "RoutingDocuments",
    "SQLiteStore",
    "SnapshotSource",
    "Store",
    "StoreError",
    "StoredEvent",
    "TokenRecord",
    "TranscriptStore",
    "Transcripts",
    "UnavailableError",
    "VisitorRecord",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Webhooks",
    "WriterStats",
    "iso_now",
    "open_store",
]
