"""The transcript store: everything the hub must not lose (see `base` for the guarantees)."""

from .base import (
    AgentRecord,
    ConflictError,
    ConversationRecord,
    DecisionRecord,
    NewEvent,
    NotFoundError,
    StoredEvent,
    StoreError,
    TokenRecord,
    TranscriptStore,
    UnavailableError,
    VisitorRecord,
    iso_now,
)
from .sqlite import SQLiteStore, WriterStats

__all__ = [
    "AgentRecord",
    "ConflictError",
    "ConversationRecord",
    "DecisionRecord",
    "NewEvent",
    "NotFoundError",
    "SQLiteStore",
    "StoreError",
    "StoredEvent",
    "TokenRecord",
    "TranscriptStore",
    "UnavailableError",
    "VisitorRecord",
    "WriterStats",
    "iso_now",
]
