"""`Webhooks`: the endpoints admins register and the outbox of their deliveries
(``chatserver/webhooks`` sends them; ``docs/webhooks.md``).

The outbox is the database's (a trigger on ``events``, migrations 0008 / PostgreSQL 0005):
storing an event whose kind makes a webhook type (``start`` → ``conversation.created`` and
``conversation.queued``, ``message`` → ``message.created`` …, the table ``webhook_kinds``) adds
one delivery per enabled endpoint that takes that type, in the transaction that stores the event,
whoever writes it. Nothing is written while no endpoint takes the type.

Guarantees (tests/chatserver/store/test_webhooks_contract.py checks each one, on both stores):

Committed together
    An event is stored with its deliveries or not at all; an event stored before an endpoint
    was created or enabled (or after it was disabled) has no delivery to it.
One sender at a time
    `claim_deliveries` leases each delivery it returns to ``owner`` until ``lease_until``: no
    other claim returns it before then, from any process on any host (a compare-and-set on the
    row; on PostgreSQL the second claimant waits for the first's row lock and re-checks).
    `finish_delivery` records an attempt only while the caller still holds the lease.
In order per conversation
    A claim returns a delivery only if it is the oldest pending one of its endpoint and
    conversation: an endpoint is sent a conversation's events in ``seq`` order, the next one
    only once the one before was delivered or given up.
Deleted with their conversation
    Deleting a conversation (a purge, a deletion request) deletes its deliveries and their
    attempts in the same transaction; deleting an endpoint deletes its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

__all__ = [
    "WEBHOOK_TYPES",
    "DeliveryOutcome",
    "DeliveryState",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Webhooks",
]

#: Every event type an endpoint may take, in the order the admin page lists them.
WEBHOOK_TYPES: tuple[str, ...] = (
    "conversation.created",
    "conversation.queued",
    "conversation.assigned",
    "message.created",
    "conversation.transferred",
    "conversation.closed",
    "conversation.rated",
    "offline_message.created",
)

DeliveryState = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where to send (``url``), what signs each request (``secret``) and which ``events``."""

    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    created_at: str
    updated_at: str
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One try: the answer's status (``None``: no answer), its time and first bytes."""

    id: int
    delivery_id: int
    ts: str
    status_code: int | None
    latency_ms: float
    error: str | None = None
    response: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event of type ``type`` for one endpoint. ``body`` is ``None`` until the first
    attempt builds it; ``next_at`` is when it is due (epoch seconds); ``last`` its latest
    attempt, when listed in a log."""

    id: int
    endpoint_id: str
    conversation_id: str
    seq: int
    type: str
    created_at: str
    state: DeliveryState
    attempts: int
    next_at: float
    body: str | None = None
    finished_at: str | None = None
    redelivery_of: int | None = None
    last: WebhookAttempt | None = None


class DeliveryOutcome(NamedTuple):
    """One attempt's outcome as `Webhooks.finish_deliveries` records it."""

    delivery_id: int
    attempt: WebhookAttempt
    body: str
    state: DeliveryState
    next_at: float


class Webhooks(Protocol):
    """Webhook endpoints and the outbox."""

    async def add_webhook(self, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint (`ConflictError` if its id is taken)."""
        ...

    async def get_webhook(self, endpoint_id: str) -> WebhookEndpoint | None: ...

    async def list_webhooks(self) -> list[WebhookEndpoint]:
        """Every endpoint, oldest first."""
        ...

    async def update_webhook(self, endpoint_id: str, **fields: object) -> WebhookEndpoint:
        """Change ``url``, ``secret``, ``events``, ``description``, ``enabled`` and
        ``updated_at``; `NotFoundError` for an unknown id."""
        ...

    async def delete_webhook(self, endpoint_id: str) -> bool:
        """Delete an endpoint with its deliveries; false if there was none."""
        ...

    async def claim_deliveries(
        self, *, now: float, owner: str, lease_s: float, limit: int
    ) -> list[WebhookDelivery]:
        """Up to ``limit`` deliveries due at ``now``, each the oldest pending one of its endpoint
        and conversation and not leased, leased to ``owner`` for ``lease_s`` seconds; most
        overdue first."""
        ...

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        owner: str,
        attempt: WebhookAttempt,
        body: str,
        state: DeliveryState,
        next_at: float,
    ) -> bool:
        """Record one attempt (its ``id`` and ``delivery_id`` are ignored) and the delivery's
        new state: ``delivered``/``failed`` (finished at the attempt's time) or ``pending``,
        due again at ``next_at``; the lease ends. False, and nothing written, if ``owner`` no
        longer holds the lease (or the delivery was deleted)."""
        ...

    async def finish_deliveries(self, owner: str, outcomes: Sequence[DeliveryOutcome]) -> list[int]:
        """`finish_delivery` for each outcome, in one transaction (a round's worth); returns
        the ids recorded — those whose lease ``owner`` still held."""
        ...

    async def redeliver(self, delivery_id: int, *, ts: str, now: float) -> WebhookDelivery:
        """A new pending delivery of the same event and body, due at ``now`` (the original
        stays in the log as it was); `NotFoundError` if there is no such delivery."""
        ...

    async def webhook_deliveries(
        self, endpoint_id: str, *, limit: int = 50, before_id: int | None = None
    ) -> list[WebhookDelivery]:
        """The endpoint's log: its deliveries newest first, each with its latest attempt."""
        ...

    async def webhook_attempts(self, delivery_id: int) -> list[WebhookAttempt]:
        """Every attempt of one delivery, oldest first."""
        ...

    async def webhook_counts(self) -> dict[str, dict[str, int]]:
        """Per endpoint id, its deliveries per state."""
        ...

    async def due_deliveries(self, now: float) -> bool:
        """Whether some pending delivery is due at ``now`` (a read, no lock: a cheap look
        before a claim)."""
        ...

    async def prune_deliveries(self, finished_before: str) -> int:
        """Delete finished deliveries (and their attempts) finished before the timestamp, a
        few thousand per transaction; returns how many."""
        ...
