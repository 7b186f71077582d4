"""The store's records and errors, shared by every part of the `Store` protocol.

The parts themselves (what each guarantees) are protocols in their own modules: see
``interface.py`` for the list. Records are frozen dataclasses; timestamps are ISO 8601 UTC
strings with milliseconds (see `iso_now`) chosen by the caller and stored as given.

Exceptions::

    StoreError                  code "internal"
    ├── NotFoundError           code "not_found"    unknown id, or a reference to one
    ├── ConflictError           code "conflict"     a unique value is taken (username, token …)
    └── UnavailableError        code "unavailable"  closed store, database locked or failing

``code`` is the protocol's error code to answer with. Programming errors (an unknown field
name, a malformed timestamp, a role that does not exist) raise ``ValueError``/``TypeError`` at
the call, before anything is queued.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

__all__ = [
    "ACTOR_ROLES",
    "AGENT_FIELDS",
    "AGENT_ROLES",
    "CONVERSATION_FIELDS",
    "CONVERSATION_STATUSES",
    "VISITOR_FIELDS",
    "ActorRole",
    "AgentRecord",
    "AgentRole",
    "AuditEntry",
    "CannedResponse",
    "ConflictError",
    "ConversationRecord",
    "ConversationStatus",
    "DecisionRecord",
    "ForgetResult",
    "JSONObject",
    "NewEvent",
    "NotFoundError",
    "PurgeResult",
    "RoutingDocument",
    "StoreError",
    "StoredEvent",
    "TokenRecord",
    "UnavailableError",
    "VisitorRecord",
    "iso_now",
]

JSONObject = dict[str, Any]
ActorRole = Literal["visitor", "agent", "system"]
AgentRole = Literal["agent", "supervisor", "analyst", "admin"]
ConversationStatus = Literal["queued", "offered", "active", "closed"]

ACTOR_ROLES: frozenset[str] = frozenset({"visitor", "agent", "system"})
AGENT_ROLES: frozenset[str] = frozenset({"agent", "supervisor", "analyst", "admin"})
CONVERSATION_STATUSES: frozenset[str] = frozenset({"queued", "offered", "active", "closed"})

#: Fields `update_agent` may change.
AGENT_FIELDS: frozenset[str] = frozenset(
    {"username", "display_name", "password_hash", "skills", "capacity", "roles", "disabled"}
)
#: Fields `update_visitor` may change.
VISITOR_FIELDS: frozenset[str] = frozenset(
    {"site", "name", "email", "last_seen_at", "external_id", "verified"}
)
#: Fields `update_conversation` and an event's ``update=`` may change. ``id``, ``visitor_id``,
#: ``created_at`` never change, and ``last_seq`` belongs to the store alone.
CONVERSATION_FIELDS: frozenset[str] = frozenset(
    {
        "site", "topic", "language", "status", "priority", "agent_id", "last_agent_id",
        "assigned_at", "first_response_at", "closed_at", "closed_by", "page_url", "rating",
        "rating_comment", "tags", "bot_id", "handed_over_at",
    }
)  # fmt: skip


def iso_now(t: float | None = None) -> str:
    """Epoch seconds (default: now) as ISO 8601 UTC with milliseconds: 2026-11-26T04:05:06.123Z."""
    ms = int((time.time() if t is None else t) * 1000)
    secs, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"


# --- errors -------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of the store's errors; ``code`` is the protocol error code to answer with."""

    code: ClassVar[str] = "internal"


class NotFoundError(StoreError):
    """The id is unknown, or a record refers to one that is (a foreign key)."""

    code: ClassVar[str] = "not_found"


class ConflictError(StoreError):
    """A value that must be unique is taken (username, token hash, id)."""

    code: ClassVar[str] = "conflict"


class UnavailableError(StoreError):
    """The store cannot serve now: not open, closed, locked past its timeout, or failing."""

    code: ClassVar[str] = "unavailable"


# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    username: str
    display_name: str
    password_hash: str
    skills: Mapping[str, int]
    capacity: int
    roles: tuple[AgentRole, ...]
    created_at: str
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An agent's bearer token, stored by hash only."""

    token_hash: str
    agent_id: str
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None


@dataclass(frozen=True, slots=True)
class VisitorRecord:
    id: str
    token_hash: str
    site: str
    created_at: str
    name: str | None = None
    email: str | None = None
    last_seen_at: str | None = None
    #: The host app's user id (`chatserver.core.identity`): proven by the site's secret when
    #: ``verified``, else only claimed (shown to agents as unverified, never used to merge).
    external_id: str | None = None
    verified: bool = False


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    visitor_id: str
    site: str
    topic: str
    language: str
    status: ConversationStatus
    created_at: str
    priority: int = 0
    agent_id: str | None = None
    last_agent_id: str | None = None
    assigned_at: str | None = None
    first_response_at: str | None = None
    closed_at: str | None = None
    closed_by: ActorRole | None = None
    page_url: str | None = None
    last_seq: int = 0
    rating: int | None = None
    rating_comment: str | None = None
    tags: tuple[str, ...] = ()
    #: The bot that held it first (docs/bots.md), None for one routed to agents at once.
    bot_id: str | None = None
    #: When its bot handed it over to the agents' queue (None: never, or no bot).
    handed_over_at: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to append, as `append_many` takes it (the arguments of `append`)."""

    conversation_id: str
    kind: str
    body: JSONObject
    ts: str
    actor_role: ActorRole
    actor_id: str | None = None
    actor_name: str | None = None
    client_id: str | None = None
    update: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored. ``duplicate`` is true when an append with an already stored
    ``client_id`` returned the original instead of storing anything."""

    conversation_id: str
    seq: int
    ts: str
    kind: str
    actor_role: ActorRole
    actor_id: str | None
    actor_name: str | None
    client_id: str | None
    body: JSONObject
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """Why the router assigned a conversation as it did (candidates, scores, relaxation)."""

    id: int
    conversation_id: str
    ts: str
    explanation: JSONObject = field(default_factory=dict)


# --- records of the data lifecycle, canned responses and the routing document ---------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who (``actor`` is ``"cli"`` for the local operator, or an
    agent's username), when, what (``action``) and the particulars (``details``)."""

    id: int
    ts: str
    actor: str
    action: str
    details: JSONObject = field(default_factory=dict)
    actor_id: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What `DataLifecycle.purge_closed_before` deleted, and the audit entry recording it."""

    cutoff: str
    conversations: int
    events: int
    visitors: int
    audit_id: int


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """What `DataLifecycle.forget_visitor` deleted (``found`` is false for an unknown id)."""

    visitor_id: str
    found: bool
    conversations: int
    events: int
    audit_id: int


@dataclass(frozen=True, slots=True)
class CannedResponse:
    """A reply an agent inserts by typing ``/shortcut``. ``owner_id`` is the agent's id, or
    ``None`` for a response shared by every agent (managed by admins)."""

    id: int
    owner_id: str | None
    shortcut: str
    text: str
    created_at: str


@dataclass(frozen=True, slots=True)
class RoutingDocument:
    """The routing topics and languages as edited at run time: ``document`` is the JSON object
    ``routing.config.apply_document`` lays over the routing file; ``version`` counts edits."""

    version: int
    document: JSONObject
    updated_at: str
    updated_by: str | None = None
