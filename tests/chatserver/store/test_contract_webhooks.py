"""Webhook endpoints and the outbox (`Webhooks`), for every Store (see conftest.STORES): each
guarantee of ``chatserver/store/webhooks.py``'s docstring."""

from __future__ import annotations

import asyncio

import pytest

from chatserver.store import (
    WEBHOOK_TYPES,
    ConversationRecord,
    DeliveryOutcome,
    NewEvent,
    NotFoundError,
    Store,
    VisitorRecord,
    WebhookAttempt,
    WebhookEndpoint,
)
from chatserver.store.sql import webhooks as sql_webhooks

from .conftest import StoreFactory, seed

T0 = "2026-03-01T00:00:00.000Z"
T1 = "2026-03-01T00:00:01.000Z"
ALL = WEBHOOK_TYPES


def endpoint(eid: str = "w1", events: tuple[str, ...] = ALL, **kw: object) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=eid,
        url=f"https://hooks.example.com/{eid}",
        secret="s3cret",
        events=events,
        created_at=T0,
        updated_at=T0,
        **kw,  # type: ignore[arg-type]
    )


def ok(ts: str = T1, status: int | None = 200) -> WebhookAttempt:
    return WebhookAttempt(0, 0, ts, status, 12.5, None if status else "timed out", "ok")


async def test_endpoints_are_stored_listed_changed_and_deleted(store: Store) -> None:
    await store.add_webhook(endpoint("w1", ("message.created", "conversation.closed")))
    await store.add_webhook(endpoint("w2", description="CRM", enabled=False))
    w1 = await store.get_webhook("w1")
    assert w1 is not None and w1.events == ("message.created", "conversation.closed")
    assert [w.id for w in await store.list_webhooks()] == ["w1", "w2"]
    changed = await store.update_webhook("w2", enabled=True, events=["conversation.rated"])
    assert changed.enabled and changed.events == ("conversation.rated",)
    assert changed.description == "CRM"
    with pytest.raises(NotFoundError):
        await store.update_webhook("nope", enabled=False)
    with pytest.raises(ValueError, match="unknown webhook event"):
        await store.update_webhook("w1", events=["message.deleted"])
    with pytest.raises(ValueError, match="cannot change"):
        await store.update_webhook("w1", id="w9")
    assert await store.delete_webhook("w1") is True
    assert await store.delete_webhook("w1") is False
    assert await store.get_webhook("w1") is None


async def test_an_event_is_stored_with_its_deliveries(store: Store) -> None:
    [cid] = await seed(store)
    await store.append(cid, "message", {"text": "before"}, ts=T0, actor_role="visitor")
    await store.add_webhook(endpoint("all"))
    await store.add_webhook(endpoint("closing", ("conversation.closed",)))
    await store.add_webhook(endpoint("off", enabled=False))
    await store.append(cid, "start", {"topic": "billing"}, ts=T0, actor_role="visitor")
    await store.append(cid, "message", {"text": "hi"}, ts=T0, actor_role="visitor")
    await store.append(cid, "note", {"text": "internal"}, ts=T0, actor_role="agent")
    await store.append(
        cid, "message", {"text": "call me", "left_message": True}, ts=T0, actor_role="visitor"
    )
    await store.append_many(
        [NewEvent(cid, "closed", {"by": "agent"}, T1, "system", update={"status": "closed"})]
    )
    log = list(reversed(await store.webhook_deliveries("all")))
    assert [(d.seq, d.type) for d in log] == [
        (2, "conversation.created"),
        (2, "conversation.queued"),
        (3, "message.created"),
        (5, "message.created"),
        (5, "offline_message.created"),
        (6, "conversation.closed"),
    ]
    assert all(d.state == "pending" and d.body is None and d.attempts == 0 for d in log)
    assert [(d.seq, d.type) for d in await store.webhook_deliveries("closing")] == [
        (6, "conversation.closed")
    ]
    assert await store.webhook_deliveries("off") == []
    assert await store.webhook_counts() == {"all": {"pending": 6}, "closing": {"pending": 1}}


async def test_a_claim_takes_the_head_of_each_chain_and_leases_it(store: Store) -> None:
    a, b = await seed(store, 2)
    await store.add_webhook(endpoint("w", ("message.created",)))
    for cid in (a, b):
        for n in range(3):
            await store.append(cid, "message", {"text": str(n)}, ts=T0, actor_role="visitor")
    assert await store.due_deliveries(100.0)
    first = await store.claim_deliveries(now=100.0, owner="p1", lease_s=30, limit=10)
    assert sorted((d.conversation_id, d.seq) for d in first) == [(a, 1), (b, 1)]
    # Leased, and the rest wait for their heads: nothing more for anyone.
    assert await store.claim_deliveries(now=101.0, owner="p2", lease_s=30, limit=10) == []
    head_a = next(d for d in first if d.conversation_id == a)
    assert await store.finish_delivery(
        head_a.id, owner="p1", attempt=ok(), body='{"x":1}', state="delivered", next_at=0
    )
    [nxt] = await store.claim_deliveries(now=101.0, owner="p2", lease_s=30, limit=10)
    assert (nxt.conversation_id, nxt.seq) == (a, 2)
    # p1's lease on b's head runs out: p2 takes it over; p1's late answer writes nothing.
    head_b = next(d for d in first if d.conversation_id == b)
    [again] = await store.claim_deliveries(now=130.5, owner="p2", lease_s=30, limit=10)
    assert again.id == head_b.id
    assert not await store.finish_delivery(
        head_b.id, owner="p1", attempt=ok(), body="{}", state="delivered", next_at=0
    )
    assert await store.webhook_attempts(head_b.id) == []


async def test_a_failed_attempt_is_retried_later_and_the_chain_waits(store: Store) -> None:
    [cid] = await seed(store)
    await store.add_webhook(endpoint("w", ("message.created",)))
    for n in range(2):
        await store.append(cid, "message", {"text": str(n)}, ts=T0, actor_role="visitor")
    [d] = await store.claim_deliveries(now=10.0, owner="p", lease_s=30, limit=5)
    assert await store.finish_delivery(
        d.id, owner="p", attempt=ok(status=500), body='{"a":1}', state="pending", next_at=50.0
    )
    assert await store.claim_deliveries(now=20.0, owner="p", lease_s=30, limit=5) == []
    [retry] = await store.claim_deliveries(now=50.0, owner="q", lease_s=30, limit=5)
    assert (retry.id, retry.attempts, retry.body) == (d.id, 1, '{"a":1}')
    assert await store.finish_delivery(
        d.id, owner="q", attempt=ok(status=None), body='{"a":1}', state="failed", next_at=0
    )
    [second] = await store.claim_deliveries(now=50.0, owner="q", lease_s=30, limit=5)
    assert second.seq == 2
    [row] = [x for x in await store.webhook_deliveries("w") if x.id == d.id]
    assert (row.state, row.attempts, row.finished_at) == ("failed", 2, T1)
    assert row.last is not None and row.last.status_code is None
    assert row.last.error == "timed out"
    assert [a.status_code for a in await store.webhook_attempts(d.id)] == [500, None]


async def test_redeliver_makes_a_new_delivery_of_the_same_body(store: Store) -> None:
    [cid] = await seed(store)
    await store.add_webhook(endpoint("w", ("message.created",)))
    await store.append(cid, "message", {"text": "x"}, ts=T0, actor_role="visitor")
    [d] = await store.claim_deliveries(now=1.0, owner="p", lease_s=30, limit=5)
    await store.finish_delivery(
        d.id, owner="p", attempt=ok(), body='{"b":2}', state="delivered", next_at=0
    )
    again = await store.redeliver(d.id, ts=T1, now=5.0)
    assert (again.redelivery_of, again.body, again.state, again.seq) == (
        d.id,
        '{"b":2}',
        "pending",
        1,
    )
    [claimed] = await store.claim_deliveries(now=5.0, owner="p", lease_s=30, limit=5)
    assert claimed.id == again.id
    with pytest.raises(NotFoundError):
        await store.redeliver(10**9, ts=T1, now=5.0)


async def test_deliveries_go_with_their_conversation_and_endpoint(store: Store) -> None:
    await store.add_visitor(VisitorRecord("gone", "h-gone", "s", T0))
    await store.add_conversation(
        ConversationRecord("c-gone", "gone", "s", "billing", "en", "queued", T0)
    )
    [kept] = await seed(store)
    await store.add_webhook(endpoint("w", ("message.created",)))
    await store.add_webhook(endpoint("v", ("message.created",)))
    for cid in ("c-gone", kept):
        await store.append(cid, "message", {"text": "x"}, ts=T0, actor_role="visitor")
    [d, *_] = await store.claim_deliveries(now=1.0, owner="p", lease_s=30, limit=5)
    await store.finish_delivery(
        d.id, owner="p", attempt=ok(), body="{}", state="pending", next_at=2
    )
    result = await store.forget_visitor("gone", ts=T1, actor="test")
    assert result.found
    assert {x.conversation_id for x in await store.webhook_deliveries("w")} == {kept}
    await store.delete_webhook("w")
    assert await store.webhook_deliveries("w") == []
    assert len(await store.webhook_deliveries("v")) == 1


async def test_prune_drops_finished_deliveries_only(store: Store) -> None:
    [cid] = await seed(store)
    await store.add_webhook(endpoint("w", ("message.created",)))
    for n in range(2):
        await store.append(cid, "message", {"text": str(n)}, ts=T0, actor_role="visitor")
    [d] = await store.claim_deliveries(now=1.0, owner="p", lease_s=30, limit=5)
    await store.finish_delivery(
        d.id, owner="p", attempt=ok(), body="{}", state="delivered", next_at=0
    )
    assert await store.prune_deliveries("2026-03-01T00:00:00.500Z") == 0
    assert await store.prune_deliveries("2026-03-02T00:00:00.000Z") == 1
    assert [x.seq for x in await store.webhook_deliveries("w")] == [2]


async def test_two_stores_never_claim_the_same_delivery(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    await first.open()
    await second.open()
    try:
        ids = await seed(first, 40)
        await first.add_webhook(endpoint("w", ("message.created",)))
        for cid in ids:
            await first.append(cid, "message", {"text": "x"}, ts=T0, actor_role="visitor")

        async def drain(store: Store, owner: str) -> list[int]:
            got: list[int] = []
            for _ in range(20):
                batch = await store.claim_deliveries(now=1.0, owner=owner, lease_s=60, limit=3)
                got += [d.id for d in batch]
                await asyncio.sleep(0)
            return got

        a, b = await asyncio.gather(drain(first, "a"), drain(second, "b"))
        assert not set(a) & set(b)
        assert len(a) + len(b) == 40
    finally:
        await first.close()
        await second.close()


async def test_a_round_is_recorded_in_one_call_for_the_leases_still_held(store: Store) -> None:
    ids = await seed(store, 3)
    await store.add_webhook(endpoint("w", ("message.created",)))
    for cid in ids:
        await store.append(cid, "message", {"text": "x"}, ts=T0, actor_role="visitor")
    claimed = await store.claim_deliveries(now=1.0, owner="p", lease_s=30, limit=5)
    assert len(claimed) == 3
    stolen = claimed[2]
    await store.claim_deliveries(now=40.0, owner="q", lease_s=30, limit=5)  # p's leases ran out
    outcomes = [DeliveryOutcome(d.id, ok(), "{}", "delivered", 0.0) for d in claimed]
    assert await store.finish_deliveries("q", outcomes) == [d.id for d in claimed]
    assert await store.finish_deliveries("p", outcomes) == []
    assert await store.webhook_counts() == {"w": {"delivered": 3}}
    assert len(await store.webhook_attempts(stolen.id)) == 1


async def test_prune_deletes_in_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_webhooks, "PRUNE_BATCH", 3)
    [cid] = await seed(store)
    await store.add_webhook(endpoint("w", ("message.created",)))
    ids = []
    for n in range(8):
        ids.append(
            (await store.append(cid, "message", {"text": str(n)}, ts=T0, actor_role="visitor")).seq
        )
        [d] = await store.claim_deliveries(now=1.0, owner="p", lease_s=30, limit=5)
        await store.finish_delivery(
            d.id, owner="p", attempt=ok(), body="{}", state="delivered", next_at=0
        )
    assert await store.prune_deliveries("2026-03-02T00:00:00.000Z") == 8
    assert await store.webhook_deliveries("w") == []
