"""`ConversationCache.conversation`: when the message path may skip the store, and when it may
not.

A fake store counts its reads and can hold one open, so an event can arrive while a read is in
flight — the race the integration tests cannot time.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from chatserver.core import cache as cache_module
from chatserver.core.cache import ConversationCache
from chatserver.core.delivery import Client, Subscription
from chatserver.core.hub import Hub
from chatserver.metrics import Metrics
from chatserver.store.base import ConversationRecord, StoredEvent, VisitorRecord

TS = "2026-11-26T04:05:06.123Z"
CID = "c1"


class Store:
    """Just the two reads the message path makes, counted; `gate` holds them while cleared."""

    def __init__(self) -> None:
        self.conversation = ConversationRecord(
            id=CID, visitor_id="v1", site="default", topic="general", language="en",
            status="active", created_at=TS, agent_id="a1", last_seq=5,
        )  # fmt: skip
        self.visitor = VisitorRecord(
            id="v1", token_hash="h", site="default", created_at=TS, name="Vera"
        )
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        self.reads += 1
        record = self.conversation if conversation_id == CID else None
        await self.gate.wait()
        return record

    async def get_visitor(self, visitor_id: str) -> VisitorRecord | None:
        self.reads += 1
        return self.visitor


async def _ignore(*_: Any) -> None:
    return None


def subscribed(hub: Cached, role: str = "visitor") -> Client:
    client = Client(role, _ignore, _ignore, queue_frames=100)
    client.subs[CID] = Subscription(CID, 5)
    hub.by_conversation[CID].add(client)
    return client


def event(
    seq: int, kind: str = "message", role: str = "visitor", name: str | None = "Vera"
) -> StoredEvent:
    body = {"text": "hi"} if kind == "message" else {}
    return StoredEvent(CID, seq, TS, kind, role, None, name, f"k{seq}", body)  # type: ignore[arg-type]


@pytest.fixture
def store() -> Store:
    return Store()


class Cached:
    """The hub and its cache, as the core wires them: the hub tells the cache what it sees."""

    def __init__(self, store: Store) -> None:
        self.hub = Hub(store, Metrics(), gap_fill_delay_s=0.01)  # type: ignore[arg-type]
        self.cache = ConversationCache(store, self.hub.subscribed_here)
        self.hub.watcher = self.cache
        self.by_conversation = self.hub.by_conversation
        self.deliver_local = self.hub.deliver_local
        self.unsubscribe = self.hub.unsubscribe
        self.refill_all = self.hub.refill_all
        self.close = self.hub.close
        self.message_conversation = self.cache.conversation


@pytest.fixture
def hub(store: Store) -> Cached:
    return Cached(store)


async def test_a_subscriber_in_step_reads_once(hub: Cached, store: Store) -> None:
    client = subscribed(hub)
    for _ in range(3):
        record, name = await hub.message_conversation(client, CID, visitor_name=True)
        assert record == store.conversation and name == "Vera"
    assert store.reads == 2  # the record and the name, once
    hub.deliver_local(event(6))  # a plain message under the same name keeps them
    await hub.message_conversation(client, CID, visitor_name=True)
    assert store.reads == 2


async def test_no_cache_without_a_subscription_or_with_a_gap(hub: Cached, store: Store) -> None:
    stranger = Client("visitor", _ignore, _ignore, queue_frames=100)
    await hub.message_conversation(stranger, CID, visitor_name=False)
    await hub.message_conversation(stranger, CID, visitor_name=False)
    assert store.reads == 2
    client = subscribed(hub)
    client.subs[CID].pending[8] = event(8)  # seq 6 and 7 not seen yet
    await hub.message_conversation(client, CID, visitor_name=False)
    await hub.message_conversation(client, CID, visitor_name=False)
    assert store.reads == 4


@pytest.mark.parametrize(
    "change",
    [
        event(6, "closed", "agent"),
        event(6, "transfer", "agent"),
        event(6, "requeued", "system"),
        event(6, "message", "visitor", name="Veronica"),  # the visitor gave a new name
    ],
    ids=["closed", "transfer", "requeued", "renamed"],
)
async def test_an_event_that_may_change_the_record_drops_it(
    hub: Cached, store: Store, change: StoredEvent
) -> None:
    client = subscribed(hub)
    await hub.message_conversation(client, CID, visitor_name=True)
    store.conversation = replace(store.conversation, status="closed", last_seq=6)
    store.visitor = replace(store.visitor, name="Veronica")
    hub.deliver_local(change)
    record, name = await hub.message_conversation(client, CID, visitor_name=True)
    assert record is not None and record.status == "closed" and name == "Veronica"


async def test_the_agents_first_reply_drops_it_later_ones_do_not(hub: Cached, store: Store) -> None:
    agent = subscribed(hub, "agent")
    await hub.message_conversation(agent, CID, visitor_name=False)
    store.conversation = replace(store.conversation, first_response_at=TS)
    hub.deliver_local(event(6, role="agent", name="Alice"))
    record, _ = await hub.message_conversation(agent, CID, visitor_name=False)
    assert record is not None and record.first_response_at == TS and store.reads == 2
    hub.deliver_local(event(7, role="agent", name="Alice"))
    await hub.message_conversation(agent, CID, visitor_name=False)
    assert store.reads == 2


async def test_a_read_in_flight_across_an_event_is_not_kept(hub: Cached, store: Store) -> None:
    client = subscribed(hub)
    store.gate.clear()
    reading = asyncio.create_task(hub.message_conversation(client, CID, visitor_name=False))
    await asyncio.sleep(0)  # the read has begun: it will answer "active"
    hub.deliver_local(event(6, "closed", "agent"))
    store.conversation = replace(store.conversation, status="closed")
    store.gate.set()
    stale, _ = await reading
    assert stale is not None and stale.status == "active"  # what the store said then...
    fresh, _ = await hub.message_conversation(client, CID, visitor_name=False)
    assert fresh is not None and fresh.status == "closed"  # ...is not what the next one uses


async def test_leaving_reconnecting_and_age_drop_it(
    hub: Cached, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = subscribed(hub)
    await hub.message_conversation(client, CID, visitor_name=False)
    await hub.unsubscribe(client, CID)  # the last local subscriber left
    client = subscribed(hub)
    await hub.message_conversation(client, CID, visitor_name=False)
    assert store.reads == 2
    await hub.refill_all()  # the bus reconnected: events may have been missed
    await hub.message_conversation(client, CID, visitor_name=False)
    assert store.reads == 3
    monkeypatch.setattr(cache_module, "CACHE_MAX_AGE_S", 0.0)
    await hub.message_conversation(client, CID, visitor_name=False)
    assert store.reads == 4
    await hub.close()


async def test_an_unknown_conversation_is_none_and_never_cached(hub: Cached, store: Store) -> None:
    client = subscribed(hub)
    assert await hub.message_conversation(client, "nope", visitor_name=True) == (None, None)
    assert await hub.message_conversation(client, "nope", visitor_name=True) == (None, None)
    assert store.reads == 2
