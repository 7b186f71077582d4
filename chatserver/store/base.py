"""The transcript store's interface: records, errors and the `TranscriptStore` protocol.

Everything that must outlive a process goes through a `TranscriptStore`: agents and their
bearer tokens, visitors, conversations, the event log of every conversation (messages, notes,
tags, assignments, ratings …) and the router's decisions. Implementations (`SQLiteStore`
today, a PostgreSQL store later) pass one shared contract test suite.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

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
    "ConflictError",
    "ConversationRecord",
    "ConversationStatus",
    "DataLifecycle",
    "DecisionRecord",
    "ForgetResult",
    "JSONObject",
    "NewEvent",
    "NotFoundError",
    "PurgeResult",
    "RoutingDocument",
    "RoutingDocuments",
    "StoreError",
    "StoredEvent",
    "TokenRecord",
    "TranscriptStore",
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
VISITOR_FIELDS: frozenset[str] = frozenset({"site", "name", "email", "last_seen_at"})
#: Fields `update_conversation` and an event's ``update=`` may change. ``id``, ``visitor_id``,
#: ``created_at`` never change, and ``last_seq`` belongs to the store alone.
CONVERSATION_FIELDS: frozenset[str] = frozenset(
    {
        "site", "topic", "language", "status", "priority", "agent_id", "last_agent_id",
        "assigned_at", "first_response_at", "closed_at", "closed_by", "page_url", "rating",
        "rating_comment", "tags",
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


# --- the interface ------------------------------------------------------------------------


class TranscriptStore(Protocol):
    """Durable state of the hub: what an ``ack`` promises is here.

    Guarantees every implementation keeps (the contract tests check each one):

    Durability
        ``append``/``append_many`` return only after the transaction holding the event has
        committed; a process killed right after the return loses nothing it was told. Every
        other write method likewise returns after its own commit.
    Atomicity
        An event and the conversation ``update`` riding with it commit together or not at all;
        so do all the events of one ``append_many`` call. A failing call (unknown conversation,
        constraint) fails alone: other callers' events in the same group commit still commit.
    Ordering
        Per conversation, ``seq`` starts at 1 and grows by exactly 1 with every stored event:
        no gaps, never reused, allocated inside the committing transaction from the store's own
        counter, so it holds across processes and does not depend on Redis. Appends awaited one
        after another get increasing seqs; the events of one ``append_many`` get consecutive
        positions in list order. ``events`` returns events in seq order.
    Idempotency
        (conversation_id, client_id) is unique. Appending again with a stored ``client_id``
        stores nothing and returns the original event (its seq, ts, body) with
        ``duplicate=True``, also when both arrive in the same group commit. Its ``update`` is
        ignored.
    Concurrency
        Safe for any number of tasks of one event loop, and for several processes sharing the
        same database. Reads see only committed data.

    Lookups (``get_*``) return ``None`` for an unknown id; writes and ``last_seq``/``events``
    raise `NotFoundError` instead. Timestamps are ISO 8601 UTC strings with milliseconds (see
    `iso_now`) chosen by the caller and stored as given.
    """

    # lifecycle
    async def open(self) -> None:
        """Connect and bring the schema up to date. Must be awaited before anything else."""

    async def close(self) -> None:
        """Commit everything queued, then release the database. Idempotent."""

    async def flush(self) -> None:
        """Return once every event queued before the call has been committed (or failed)."""

    # event log
    async def append(
        self,
        conversation_id: str,
        kind: str,
        body: JSONObject,
        *,
        ts: str,
        actor_role: ActorRole,
        actor_id: str | None = None,
        actor_name: str | None = None,
        client_id: str | None = None,
        update: Mapping[str, Any] | None = None,
    ) -> StoredEvent:
        """Store one event (and apply ``update`` to its conversation) and return it, seq set."""

    async def append_many(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        """Store several events in one transaction, all or none; results in the same order."""

    async def events(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[StoredEvent]:
        """Stored events with seq > ``after_seq`` (optionally of ``kinds`` only), in seq order."""

    async def last_seq(self, conversation_id: str) -> int:
        """The seq of the conversation's newest event, 0 if it has none."""

    # agents
    async def add_agent(self, agent: AgentRecord) -> None:
        """`ConflictError` if the id or the username (ignoring case) is taken."""

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def get_agent_by_username(self, username: str) -> AgentRecord | None:
        """Case-insensitive."""

    async def list_agents(self, *, include_disabled: bool = True) -> list[AgentRecord]:
        """By username."""

    async def update_agent(self, agent_id: str, **fields: Any) -> AgentRecord:
        """Change `AGENT_FIELDS`; returns the updated record."""

    # tokens
    async def add_token(self, token: TokenRecord) -> None: ...

    async def get_token(self, token_hash: str) -> TokenRecord | None: ...

    async def revoke_token(self, token_hash: str, now: str) -> None:
        """Idempotent: a token already revoked keeps its first ``revoked_at``."""

    async def revoke_agent_tokens(self, agent_id: str, now: str) -> int:
        """Revoke every live token of the agent; returns how many were revoked."""

    async def tokens_revoked_since(self, since: str) -> list[tuple[str, str]]:
        """(token hash, agent id) of every token revoked at or after ``since``."""

    # visitors
    async def add_visitor(self, visitor: VisitorRecord) -> None: ...

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None: ...

    async def get_visitor_by_token_hash(self, token_hash: str) -> VisitorRecord | None: ...

    async def update_visitor(self, visitor_id: str, **fields: Any) -> VisitorRecord:
        """Change `VISITOR_FIELDS`; returns the updated record."""

    # conversations
    async def add_conversation(self, conversation: ConversationRecord) -> None:
        """Its ``last_seq`` is ignored: a new conversation starts at 0."""

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def list_conversations(
        self,
        *,
        visitor_id: str | None = None,
        agent_id: str | None = None,
        status: str | set[str] | frozenset[str] | None = None,
        limit: int | None = None,
    ) -> list[ConversationRecord]:
        """Matching conversations, oldest first (by created_at, then id)."""

    async def update_conversation(self, conversation_id: str, **fields: Any) -> ConversationRecord:
        """Change `CONVERSATION_FIELDS`; returns the updated record."""

    # routing decisions
    async def add_decision(
        self, conversation_id: str, ts: str, explanation: JSONObject
    ) -> DecisionRecord: ...

    async def decisions(self, conversation_id: str) -> list[DecisionRecord]:
        """Oldest first."""


# --- data lifecycle: the audit log, retention and deletion requests ----------------------


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


class DataLifecycle(Protocol):
    """Retention, deletion requests and the audit log (``SQLiteStore`` implements it).

    Guarantees:

    Audited
        `purge_closed_before` and `forget_visitor` write their audit entry in the same
        transaction as (the first part of) their deletions: no deletion without its record.
    Complete
        `forget_visitor` removes every stored trace of the visitor in one transaction: the
        visitor row (name, e-mail, token hash), its conversations, their events and routing
        decisions. Freed pages are overwritten (``secure_delete``) so the text does not linger
        in the database file.
    Safe for the live hub
        Purges delete closed conversations only, in batches of their own transactions queued
        with the appends, so the hub keeps answering while a large purge runs.
    """

    async def add_audit(
        self,
        action: str,
        details: JSONObject,
        *,
        ts: str,
        actor: str,
        actor_id: str | None = None,
    ) -> AuditEntry:
        """Append one entry to the audit log; returns it with its id."""

    async def audit_log(
        self, *, action: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries (of one ``action`` if given), newest first."""

    async def purge_closed_before(
        self, cutoff: str, *, ts: str, actor: str, actor_id: str | None = None, batch: int = 500
    ) -> PurgeResult:
        """Delete conversations closed before ``cutoff`` (with their events and decisions),
        then visitors left without conversations and not seen since ``cutoff``."""

    async def forget_visitor(
        self, visitor_id: str, *, ts: str, actor: str, actor_id: str | None = None
    ) -> ForgetResult:
        """Delete every trace of one visitor (a deletion request). Recorded even when the id
        is unknown, so the request itself is on file."""

    async def analytics_key(self, name: str) -> bytes:
        """A secret made once per database (``"pseudonym"``, ``"seal"``)."""


# --- canned responses (agent console) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CannedResponse:
    """A reply an agent inserts by typing ``/shortcut``. ``owner_id`` is the agent's id, or
    ``None`` for a response shared by every agent (managed by admins)."""

    id: int
    owner_id: str | None
    shortcut: str
    text: str
    created_at: str


class CannedResponses(Protocol):
    """Canned responses (``SQLiteStore`` implements it).

    Guarantees: (owner, shortcut) is unique — adding a taken one raises `ConflictError`;
    `list_canned` returns the shared responses and the agent's own, ordered by shortcut
    (shared first on a tie); `delete_canned` of an unknown id raises `NotFoundError`;
    `update_canned` changes shortcut and text in place (owner, id and `created_at` stay), raises
    `NotFoundError` for an unknown id and `ConflictError` when the owner has that shortcut
    already — and then changes nothing.
    """

    async def list_canned(self, agent_id: str) -> list[CannedResponse]: ...

    async def get_canned(self, canned_id: int) -> CannedResponse | None: ...

    async def add_canned(
        self, owner_id: str | None, shortcut: str, text: str, *, ts: str
    ) -> CannedResponse: ...

    async def delete_canned(self, canned_id: int) -> None: ...

    async def update_canned(self, canned_id: int, shortcut: str, text: str) -> CannedResponse: ...

    async def used_tags(self, limit: int = 200) -> list[str]:
        """Tags already on conversations, most used first (suggestions for the console)."""


# --- the routing document (admin pages) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingDocument:
    """The routing topics and languages as edited at run time: ``document`` is the JSON object
    ``routing.config.apply_document`` lays over the routing file; ``version`` counts edits."""

    version: int
    document: JSONObject
    updated_at: str
    updated_by: str | None = None


class RoutingDocuments(Protocol):
    """The edited routing document (``SQLiteStore`` implements it).

    Guarantees: there is at most one document; `get_routing_document` returns None until the
    first `put_routing_document`. A put replaces the document only if the stored version is
    still ``expected_version`` (0: there is none yet) and stores it as ``expected_version + 1``;
    otherwise it raises `ConflictError` and changes nothing (another writer got there first).
    """

    async def get_routing_document(self) -> RoutingDocument | None: ...

    async def put_routing_document(
        self, document: JSONObject, *, expected_version: int, ts: str, by: str | None = None
    ) -> RoutingDocument: ...
