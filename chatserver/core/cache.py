"""The message path's read-through cache: a conversation's record and its visitor's name.

The message path reads a conversation record (and the visitor's name) for every message it
checks; `ConversationCache.conversation` keeps them while a local client is subscribed to the
conversation — this node then sees every event of it, in order (`chatserver.core.hub`) — and
drops them on the first event that may have changed them (anything but a plain message; an
agent's first reply; a visitor message under another name), when the last local subscriber
leaves, after the bus reconnects, and at the latest after `CACHE_MAX_AGE_S`. A read that was in
flight while such an event arrived is not kept (a version per conversation, and an epoch for
the whole cache), so a stale record never outlives the event that changed it.

The hub tells the cache what it sees through the three methods of `chatserver.core.hub.Watcher`
(`event_seen`, `conversation_left`, `reset`); the cache asks the hub nothing but whether a
conversation has a subscriber here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from chatserver.core.delivery import Client
from chatserver.store.base import ConversationRecord, StoredEvent, VisitorRecord

CACHE_MAX_AGE_S = 30.0
_UNKNOWN = object()  # a cached visitor name not read yet (the entry came from an agent)


class Reads(Protocol):
    """The two store reads the message path makes."""

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None: ...


class _Cached:
    """The message path's view of one conversation: its record and the visitor's name."""

    __slots__ = ("loaded", "record", "visitor_name")

    def __init__(self, record: ConversationRecord, visitor_name: object, loaded: float) -> None:
        self.record = record
        self.visitor_name = visitor_name
        self.loaded = loaded


class ConversationCache:
    def __init__(self, store: Reads, subscribed_here: Callable[[str], bool]) -> None:
        """``subscribed_here(conversation_id)``: whether a client of this node is subscribed."""
        self.store = store
        self._subscribed_here = subscribed_here
        self._cache: dict[str, _Cached] = {}
        # A read begun before a bump of either is not kept. Versions exist only for
        # conversations with a local subscriber; the epoch moves when one loses its last.
        self._versions: dict[str, int] = {}
        self._epoch = 0

    async def conversation(
        self, client: Client, conversation_id: str, *, visitor_name: bool
    ) -> tuple[ConversationRecord | None, str | None]:
        """The conversation record (None if there is none) and, with ``visitor_name``, the
        visitor's display name, from the cache when ``client`` is subscribed and up to date,
        else from the store. The caller still checks the record: this only saves the reads."""
        entry = self._cache.get(conversation_id)
        if entry is not None and time.monotonic() - entry.loaded > CACHE_MAX_AGE_S:
            del self._cache[conversation_id]
            entry = None
        if entry is not None and _in_step(client, conversation_id):
            if not visitor_name:
                return entry.record, None
            if entry.visitor_name is not _UNKNOWN:
                return entry.record, entry.visitor_name  # type: ignore[return-value]
        token = self._token(conversation_id)
        record = await self.store.get_conversation(conversation_id)
        if record is None:
            return None, None
        name: object = _UNKNOWN
        if visitor_name:
            visitor = await self.store.get_visitor(record.visitor_id)
            name = visitor.name if visitor is not None else None
        if token == self._token(conversation_id) and _in_step(client, conversation_id):
            self._cache[conversation_id] = _Cached(record, name, time.monotonic())
        return record, None if name is _UNKNOWN else name  # type: ignore[return-value]

    def _token(self, conversation_id: str) -> tuple[int, int]:
        return self._epoch, self._versions.get(conversation_id, 0)

    def forget(self, conversation_id: str) -> None:
        """Drop the cached view of a conversation, and any read of it in flight."""
        self._cache.pop(conversation_id, None)
        if self._subscribed_here(conversation_id):
            self._versions[conversation_id] = self._versions.get(conversation_id, 0) + 1
        else:  # no version kept for it: move them all
            self._epoch += 1

    # -- what the hub sees (chatserver.core.hub.Watcher) ------------------------------------
    def event_seen(self, event: StoredEvent) -> None:
        """Drop the cached view of the event's conversation if the event may have changed it."""
        if event.kind == "message":
            entry = self._cache.get(event.conversation_id)
            if entry is None:  # nothing to compare with: a read in flight must not be kept
                self.forget(event.conversation_id)
                return
            if event.actor_role == "agent":
                if entry.record.first_response_at is not None:
                    return  # set once: a read in flight sees it too
            elif event.actor_role != "visitor" or event.actor_name == entry.visitor_name:
                return  # a name not read yet (_UNKNOWN) never matches: dropped, read again
        self.forget(event.conversation_id)

    def conversation_left(self, conversation_id: str) -> None:
        """The last local subscriber left: this node no longer sees the events."""
        self._cache.pop(conversation_id, None)
        self._versions.pop(conversation_id, None)
        self._epoch += 1

    def reset(self) -> None:
        """Events may have been missed (the bus reconnected): drop everything."""
        self._epoch += 1
        self._cache.clear()


def _in_step(client: Client, conversation_id: str) -> bool:
    """Only a subscriber that has seen every event so far (no gap pending, no fill running)
    may keep or trust an entry: the events it will see are what drops it."""
    sub = client.subs.get(conversation_id)
    return not (sub is None or sub.pending or sub.filling or sub.lock.locked())
