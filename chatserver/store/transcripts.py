"""`Transcripts`: opening the store and the event log of every conversation.

Guarantees every implementation keeps (the contract tests check each one):

Durability
    ``append``/``append_many`` return only after the transaction holding the event has
    committed; a process killed right after the return loses nothing it was told. Every other
    write method of every part of the `Store` likewise returns after its own commit.
Atomicity
    An event and the conversation ``update`` riding with it commit together or not at all; so
    do all the events of one ``append_many`` call. A failing call (unknown conversation,
    constraint) fails alone: other callers' events in the same group commit still commit.
Ordering
    Per conversation, ``seq`` starts at 1 and grows by exactly 1 with every stored event: no
    gaps, never reused, allocated inside the committing transaction from the store's own
    counter, so it holds across processes and does not depend on Redis. Appends awaited one
    after another get increasing seqs; the events of one ``append_many`` get consecutive
    positions in list order. ``events`` returns events in seq order.
Idempotency
    (conversation_id, client_id) is unique. Appending again with a stored ``client_id`` stores
    nothing and returns the original event (its seq, ts, body) with ``duplicate=True``, also
    when both arrive in the same group commit. Its ``update`` is ignored.
Concurrency
    Safe for any number of tasks of one event loop, and for several processes sharing the same
    database. Reads see only committed data.

``last_seq``/``events`` raise `NotFoundError` for an unknown conversation. Timestamps are ISO
8601 UTC strings with milliseconds (see `iso_now`) chosen by the caller and stored as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .base import ActorRole, JSONObject, NewEvent, StoredEvent

__all__ = ["Transcripts"]


class Transcripts(Protocol):
    """Opening and closing the store; the append-only, per-conversation event log."""

    # opening and closing
    async def open(self) -> None:
        """Connect and bring the schema up to date. Must be awaited before anything else."""

    async def close(self) -> None:
        """Commit everything queued, then release the database. Idempotent."""

    async def flush(self) -> None:
        """Return once every event queued before the call has been committed (or failed)."""

    async def ping(self) -> None:
        """Return once the database answers a trivial query, or raise (`UnavailableError`).
        For readiness: it does not wait behind the store's own work (a busy pool, a batch
        being committed), so a store that is busy, not down, answers at once."""

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
