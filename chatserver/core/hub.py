"""The fan-out of one process: its local connections, their subscriptions, and the bus to the
others.

Stored events reach a subscription three ways — straight from the node that committed them,
over the bus from another node, or from the store when a gap is filled — and
`Hub.offer_event` makes sure each is handed to the client once, in `seq` order. Ephemeral frames
(typing, read, queue positions, offers) are not stored and are simply relayed.

The registry (which connections are here, which agents, which conversations they follow, the
status each local agent was last given) changes only through the hub's methods. What the hub
sees that a cache must know — every event handed to a subscriber, a conversation losing its
last local subscriber, a bus reconnect — goes to its `Watcher` (`chatserver.core.cache`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

from chatserver.core.delivery import Client, Subscription
from chatserver.core.render import event_from_wire, event_to_wire, render_event
from chatserver.metrics import Metrics
from chatserver.protocol import frames
from chatserver.store.base import StoredEvent

log = logging.getLogger("chatserver.hub")

FILL_PAGE = 500


class Events(Protocol):
    """The one store read the hub makes: a conversation's events after a ``seq``, to fill a gap."""

    async def events(
        self, conversation_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[StoredEvent]: ...


class Publisher(Protocol):
    """The bus to the other processes (`chatserver.core.bus.Bus`): at most once, any order."""

    async def add_interest(self, conversation_id: str) -> None: ...

    async def drop_interest(self, conversation_id: str) -> None: ...

    def publish(self, conversation_id: str, message: dict[str, Any]) -> None: ...


class Watcher(Protocol):
    """Told what the hub sees (`chatserver.core.cache.ConversationCache`)."""

    def event_seen(self, event: StoredEvent) -> None: ...

    def conversation_left(self, conversation_id: str) -> None: ...

    def reset(self) -> None: ...


class Hub:
    def __init__(self, store: Events, metrics: Metrics, *, gap_fill_delay_s: float) -> None:
        self.store = store
        self.metrics = metrics
        self.gap_fill_delay_s = gap_fill_delay_s
        self.bus: Publisher | None = None
        self.watcher: Watcher | None = None
        #: Read them; change them only through the methods below.
        self.clients: set[Client] = set()
        self.by_conversation: dict[str, set[Client]] = defaultdict(set)
        self.agents: dict[str, set[Client]] = defaultdict(set)
        self._agent_status: dict[str, str] = {}
        self.on_router_event: Callable[[dict[str, Any]], None] | None = None
        #: A visitor here saw its conversation handed over to the agents' queue (a bot's
        #: ``handoff``, maybe made on another process): follow its place in the queue.
        self.on_visitor_queued: Callable[[str], None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._emptied: asyncio.Event | None = None

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
                    self._agent_status.pop(client.agent_id, None)
        if not self.clients and self._emptied is not None:
            self._emptied.set()

    async def emptied(self) -> None:
        """Return once every client is gone (removed): the end of a drain."""
        while self.clients:
            self._emptied = asyncio.Event()
            await self._emptied.wait()

    def agent_clients(self, agent_id: str) -> list[Client]:
        """The agent's connections here (a copy: sending may close one)."""
        return list(self.agents.get(agent_id, ()))

    def has_agent(self, agent_id: str) -> bool:
        """Whether the agent has a connection here."""
        return bool(self.agents.get(agent_id))

    def local_agents(self) -> list[tuple[str, Client]]:
        """Each agent with a connection here, and one of its connections."""
        return [(agent_id, next(iter(peers))) for agent_id, peers in self.agents.items() if peers]

    def set_agent_status(self, agent_id: str, status: str) -> None:
        """The status this node last gave a local agent (kept to restore it after a resync)."""
        self._agent_status[agent_id] = status

    def agent_status(self, agent_id: str, default: str) -> str:
        return self._agent_status.get(agent_id, default)

    def visitors_of(self, conversation_id: str) -> list[Client]:
        """The visitor sockets of a conversation on this hub."""
        return [c for c in self.by_conversation.get(conversation_id, ()) if c.role == "visitor"]

    def subscribed_here(self, conversation_id: str) -> bool:
        """Whether a connection here is subscribed to the conversation."""
        return conversation_id in self.by_conversation

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
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
            if self.watcher is not None:
                self.watcher.conversation_left(conversation_id)
            if self.bus is not None:
                try:
                    await self.bus.drop_interest(conversation_id)
                except Exception as exc:  # Redis down: the interest key expires by itself
                    log.debug("drop_interest failed", extra={"error": repr(exc)})

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
        if self.watcher is not None:
            self.watcher.event_seen(event)
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
        if client.agent is None:  # a visitor holds nothing
            if event.kind == "handoff" and self.on_visitor_queued is not None:
                self.on_visitor_queued(event.conversation_id)
            return
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

    async def _fill_later(self, client: Client, sub: Subscription, *, refill: bool = False) -> None:
        """Fill a gap from the store, once a moment has passed; with ``refill``, whatever the
        store holds past the last event delivered, gap or not (the bus was down: the last
        events published meanwhile left no gap behind them)."""
        try:
            # Out-of-order arrival from two publishers usually mends itself within a moment.
            await asyncio.sleep(self.gap_fill_delay_s)
            async with sub.lock:
                self._drain_pending(client, sub)
                if (sub.pending or refill) and client.subs.get(sub.conversation_id) is sub:
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
        if self.watcher is not None:
            self.watcher.reset()
        for client in list(self.clients):
            for sub in list(client.subs.values()):
                if not sub.filling:
                    sub.filling = True
                    self.spawn(self._fill_later(client, sub, refill=True), name="refill")

    async def renew_interests(self) -> None:
        """Tell the bus again of every conversation followed here (Redis lost its data)."""
        if self.bus is not None:
            for conversation_id in list(self.by_conversation):
                await self.bus.add_interest(conversation_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:
                pass
