"""The hub of one process: its local connections, their subscriptions, and the bus to the others.

Stored events reach a subscription three ways — straight from the node that committed them,
over the bus from another node, or from the store when a gap is filled — and
`Hub.offer_event` makes sure each is handed to the client once, in `seq` order. Ephemeral frames
(typing, read, queue positions, offers) are not stored and are simply relayed.

The message path reads a conversation record (and the visitor's name) for every message it
checks; `Hub.message_conversation` keeps them while a local client is subscribed to the
conversation — this node then sees every event of it, in order — and drops them on the first
event that may have changed them (anything but a plain message; an agent's first reply; a
visitor message under another name), when the last local subscriber leaves, after the bus
reconnects, and at the latest after `CACHE_MAX_AGE_S`. A read that was in flight while such
an event arrived is not kept (a version per conversation, and an epoch for the whole cache), so
a stale record never outlives the event that changed it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from chatserver.bus import Bus
from chatserver.delivery import Client, Subscription
from chatserver.metrics import Metrics
from chatserver.protocol import frames
from chatserver.render import event_from_wire, event_to_wire, render_event
from chatserver.store.base import ConversationRecord, StoredEvent, TranscriptStore

log = logging.getLogger("chatserver.hub")

FILL_PAGE = 500
CACHE_MAX_AGE_S = 30.0
_UNKNOWN = object()  # a cached visitor name not read yet (the entry came from an agent)


class _Cached:
    """The message path's view of one conversation: its record and the visitor's name."""

    __slots__ = ("loaded", "record", "visitor_name")

    def __init__(self, record: ConversationRecord, visitor_name: object, loaded: float) -> None:
        self.record = record
        self.visitor_name = visitor_name
        self.loaded = loaded


class Hub:
    def __init__(
        self, store: TranscriptStore, metrics: Metrics, *, gap_fill_delay_s: float
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.gap_fill_delay_s = gap_fill_delay_s
        self.bus: Bus | None = None
        self.clients: set[Client] = set()
        self.by_conversation: dict[str, set[Client]] = defaultdict(set)
        self.agents: dict[str, set[Client]] = defaultdict(set)
        self.agent_status: dict[str, str] = {}
        self.on_router_event: Callable[[dict[str, Any]], None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cache: dict[str, _Cached] = {}
        # A read begun before a bump of either is not kept. Versions exist only for
        # conversations with a local subscriber; the epoch moves when one loses its last.
        self._versions: dict[str, int] = {}
        self._epoch = 0

    # -- registry ---------------------------------------------------------------------------
    def add_client(self, client: Client) -> None:
        self.clients.add(client)

    def identify(self, client: Client) -> None:
        if client.agent_id is not None:
            self.agents[client.agent_id].add(client)

    async def remove_client(self, client: Client) -> None:
        self.clients.discard(client)
        for conversation_id in list(client.subs):
            await self.unsubscribe(client, conversation_id)
        if client.agent_id is not None:
            peers = self.agents.get(client.agent_id)
            if peers is not None:
                peers.discard(client)
                if not peers:
                    del self.agents[client.agent_id]
                    self.agent_status.pop(client.agent_id, None)

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "background task failed", exc_info=task.exception(), extra={"task": task.get_name()}
            )

    # -- subscriptions ----------------------------------------------------------------------
    async def subscribe(
        self, client: Client, conversation_id: str, after_seq: int, *, skip: Iterable[int] = ()
    ) -> int:
        """Deliver the conversation's stored events with seq > after_seq, then every new one.

        Returns the last seq delivered once the backlog is sent. Interest is registered on the
        bus *before* the store is read, so no event can fall between the two.
        """
        sub = client.subs.get(conversation_id)
        if sub is None:
            sub = Subscription(conversation_id, after_seq)
            client.subs[conversation_id] = sub
            first_here = not self.by_conversation.get(conversation_id)
            self.by_conversation[conversation_id].add(client)
            if first_here and self.bus is not None:
                await self.bus.add_interest(conversation_id)
        async with sub.lock:
            sub.last = after_seq
            sub.pending.clear()
            sub.skip = {s for s in skip if s > after_seq}
            await self._fill_locked(client, sub)
        return sub.last

    def is_subscribed(self, client: Client, conversation_id: str) -> bool:
        return conversation_id in client.subs

    async def unsubscribe(self, client: Client, conversation_id: str) -> None:
        if client.subs.pop(conversation_id, None) is None:
            return
        peers = self.by_conversation.get(conversation_id)
        if peers is None:
            return
        peers.discard(client)
        if not peers:
            del self.by_conversation[conversation_id]
            self._cache.pop(conversation_id, None)
            self._versions.pop(conversation_id, None)
            self._epoch += 1
            if self.bus is not None:
                try:
                    await self.bus.drop_interest(conversation_id)
                except Exception as exc:  # Redis down: the interest key expires by itself
                    log.debug("drop_interest failed", extra={"error": repr(exc)})

    # -- the message path's cache -----------------------------------------------------------
    async def message_conversation(
        self, client: Client, conversation_id: str, *, visitor_name: bool
    ) -> tuple[ConversationRecord | None, str | None]:
        """The conversation record (None if there is none) and, with ``visitor_name``, the
        visitor's display name, from the cache when ``client`` is subscribed and up to date,
        else from the store. The caller still checks the record: this only saves the reads."""
        entry = self._cache.get(conversation_id)
        if entry is not None and time.monotonic() - entry.loaded > CACHE_MAX_AGE_S:
            del self._cache[conversation_id]
            entry = None
        if entry is not None and self._in_step(client, conversation_id):
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
        if token == self._token(conversation_id) and self._in_step(client, conversation_id):
            self._cache[conversation_id] = _Cached(record, name, time.monotonic())
        return record, None if name is _UNKNOWN else name  # type: ignore[return-value]

    @staticmethod
    def _in_step(client: Client, conversation_id: str) -> bool:
        """Only a subscriber that has seen every event so far (no gap pending, no fill
        running) may keep or trust an entry: the events it will see are what drops it."""
        sub = client.subs.get(conversation_id)
        return not (sub is None or sub.pending or sub.filling or sub.lock.locked())

    def _token(self, conversation_id: str) -> tuple[int, int]:
        return self._epoch, self._versions.get(conversation_id, 0)

    def forget_conversation(self, conversation_id: str) -> None:
        """Drop the cached view of a conversation, and any read of it in flight."""
        self._cache.pop(conversation_id, None)
        if conversation_id in self.by_conversation:
            self._versions[conversation_id] = self._versions.get(conversation_id, 0) + 1
        else:  # no version kept for it: move them all
            self._epoch += 1

    def _invalidate_for(self, event: StoredEvent) -> None:
        """Drop the cached view of the event's conversation if the event may have changed it."""
        if event.kind == "message":
            entry = self._cache.get(event.conversation_id)
            if entry is None:  # nothing to compare with: a read in flight must not be kept
                self.forget_conversation(event.conversation_id)
                return
            if event.actor_role == "agent":
                if entry.record.first_response_at is not None:
                    return  # set once: a read in flight sees it too
            elif event.actor_role != "visitor" or event.actor_name == entry.visitor_name:
                return  # a name not read yet (_UNKNOWN) never matches: dropped, read again
        self.forget_conversation(event.conversation_id)

    # -- stored events ----------------------------------------------------------------------
    def publish(self, event: StoredEvent) -> None:
        """An event this node just committed: deliver locally, then to the other nodes."""
        self.deliver_local(event)
        if self.bus is not None:
            self.bus.publish(event.conversation_id, {"k": "e", "e": event_to_wire(event)})

    def deliver_local(self, event: StoredEvent) -> None:
        peers = self.by_conversation.get(event.conversation_id)
        if not peers:
            return
        rendered: dict[str, str | None] = {}  # one frame per role, not one per connection
        for client in list(peers):
            sub = client.subs.get(event.conversation_id)
            if sub is not None:
                self.offer_event(client, sub, event, rendered)

    def offer_event(
        self,
        client: Client,
        sub: Subscription,
        event: StoredEvent,
        rendered: dict[str, str | None] | None = None,
    ) -> None:
        seq = event.seq
        if seq <= sub.last or seq in sub.pending:
            return
        if seq == sub.last + 1 and not sub.filling and not sub.lock.locked():
            self._emit(client, sub, event, rendered)
            self._drain_pending(client, sub)
            return
        sub.pending[seq] = event
        if not sub.filling and not sub.lock.locked():
            sub.filling = True
            self.spawn(self._fill_later(client, sub), name="gap-fill")

    def _emit(
        self,
        client: Client,
        sub: Subscription,
        event: StoredEvent,
        rendered: dict[str, str | None] | None = None,
    ) -> None:
        sub.last = event.seq
        self._invalidate_for(event)
        if event.seq in sub.skip:
            sub.skip.discard(event.seq)
            return
        self._observe(client, event)
        role = client.role
        if rendered is None:
            frame = render_event(event, role)
        elif role in rendered:
            frame = rendered[role]
        else:
            frame = rendered[role] = render_event(event, role)
        if frame is not None:
            client.send(frame)
            self.metrics.frame_out(client.role).inc()

    def _observe(self, client: Client, event: StoredEvent) -> None:
        """Keep the connection's view of who holds what in step with the events it sees."""
        if client.agent is None:
            return  # a visitor holds nothing
        cid = event.conversation_id
        if event.kind == "closed":
            client.held.discard(cid)
        elif event.kind in ("transfer", "requeued") and client.agent_id is not None:
            client.held.discard(cid)
        elif event.kind == "assigned" and client.agent_id is not None:
            if event.body.get("agent_id") == client.agent_id:
                client.held.add(cid)
            else:
                client.held.discard(cid)

    def _drain_pending(self, client: Client, sub: Subscription) -> None:
        while sub.pending:
            nxt = sub.pending.pop(sub.last + 1, None)
            if nxt is None:
                for seq in [s for s in sub.pending if s <= sub.last]:
                    del sub.pending[seq]
                return
            self._emit(client, sub, nxt)

    async def _fill_later(self, client: Client, sub: Subscription) -> None:
        try:
            # Out-of-order arrival from two publishers usually mends itself within a moment.
            await asyncio.sleep(self.gap_fill_delay_s)
            async with sub.lock:
                self._drain_pending(client, sub)
                if sub.pending and client.subs.get(sub.conversation_id) is sub:
                    self.metrics.gap_fills.inc()
                    await self._fill_locked(client, sub)
        finally:
            sub.filling = False
        if sub.pending and client.is_open:
            # Something arrived ahead while we were filling: go round again.
            sub.filling = True
            self.spawn(self._fill_later(client, sub), name="gap-fill")

    async def _fill_locked(self, client: Client, sub: Subscription) -> None:
        while client.is_open:
            events = await self.store.events(
                sub.conversation_id, after_seq=sub.last, limit=FILL_PAGE
            )
            for event in events:
                if event.seq == sub.last + 1:
                    await client.wait_room()
                    if not client.is_open:
                        return
                    self._emit(client, sub, event)
            self._drain_pending(client, sub)
            if len(events) < FILL_PAGE and not sub.pending:
                return
            if not events:
                # Pending events ahead of a hole the store does not have: cannot happen while
                # events are committed before publication; drop them rather than spin.
                log.error("gap not in store", extra={"conversation_id": sub.conversation_id})
                sub.pending.clear()
                return

    # -- bus --------------------------------------------------------------------------------
    def on_bus_message(self, channel: str, data: dict[str, Any]) -> None:
        kind = data.get("k")
        if kind == "e":
            self.deliver_local(event_from_wire(data["e"]))
        elif kind == "x":
            self.relay_local(data["c"], data["f"], exclude_role=data.get("from"))
        elif "type" in data and self.on_router_event is not None:
            self.on_router_event(data)

    def relay(self, conversation_id: str, frame: dict[str, Any], *, from_role: str) -> None:
        """An ephemeral frame (typing, read) for the other side of a conversation."""
        self.relay_local(conversation_id, frame, exclude_role=from_role)
        if self.bus is not None:
            self.bus.publish(
                conversation_id, {"k": "x", "c": conversation_id, "f": frame, "from": from_role}
            )

    def relay_local(
        self, conversation_id: str, frame: dict[str, Any], *, exclude_role: str | None
    ) -> None:
        text = frames.dump(frame)
        for client in list(self.by_conversation.get(conversation_id, ())):
            if client.role != exclude_role:
                client.send(text)

    async def refill_all(self) -> None:
        """After the bus was down: anything published meanwhile is in the store."""
        self._epoch += 1
        self._cache.clear()
        for client in list(self.clients):
            for sub in list(client.subs.values()):
                if not sub.filling:
                    sub.filling = True
                    self.spawn(self._fill_later(client, sub), name="refill")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:
                pass
