"""The event log's guarantees, for every TranscriptStore (see conftest.STORES)."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest

from chatserver.store import (
    NewEvent,
    NotFoundError,
    StoredEvent,
    TranscriptStore,
    UnavailableError,
    iso_now,
)

from .conftest import StoreFactory, seed

TS = "2026-11-26T04:05:06.123Z"


async def say(
    store: TranscriptStore, conv: str, text: str, client_id: str | None = None
) -> StoredEvent:
    return await store.append(
        conv, "message", {"text": text}, ts=TS, actor_role="visitor", client_id=client_id
    )


async def test_seq_starts_at_1_and_is_per_conversation(store: TranscriptStore) -> None:
    a, b = await seed(store, 2)
    assert await store.last_seq(a) == 0
    first = await say(store, a, "hello")
    assert (first.seq, first.duplicate, first.body, first.ts) == (1, False, {"text": "hello"}, TS)
    assert (await say(store, a, "again")).seq == 2
    assert (await say(store, b, "other")).seq == 1
    assert (await say(store, a, "third")).seq == 3
    assert await store.last_seq(a) == 3
    assert await store.last_seq(b) == 1
    assert [e.seq for e in await store.events(a)] == [1, 2, 3]
    assert [e.body["text"] for e in await store.events(a)] == ["hello", "again", "third"]


async def test_stored_event_round_trips_every_field(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    body = {"text": "héllo <b>", "nested": {"n": [1, 2.5, None, True]}}
    sent = await store.append(
        conv, "note", body, ts=TS, actor_role="agent", actor_id="a1", actor_name="Ann",
        client_id="c-1",
    )  # fmt: skip
    (read,) = await store.events(conv)
    assert read == sent
    assert read == StoredEvent(conv, 1, TS, "note", "agent", "a1", "Ann", "c-1", body, False)


async def test_events_after_seq_limit_and_kinds(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    for n in range(6):
        kind = "note" if n % 3 == 2 else "message"
        await store.append(conv, kind, {"n": n}, ts=TS, actor_role="agent")
    assert [e.seq for e in await store.events(conv, after_seq=3)] == [4, 5, 6]
    assert [e.seq for e in await store.events(conv, after_seq=1, limit=2)] == [2, 3]
    assert [e.seq for e in await store.events(conv, kinds=["note"])] == [3, 6]
    assert [e.seq for e in await store.events(conv, after_seq=3, kinds=["message"])] == [4, 5]
    assert await store.events(conv, after_seq=6) == []


async def test_unknown_conversation_is_not_found(store: TranscriptStore) -> None:
    with pytest.raises(NotFoundError) as info:
        await say(store, "nope", "x")
    assert info.value.code == "not_found"
    with pytest.raises(NotFoundError):
        await store.last_seq("nope")
    with pytest.raises(NotFoundError):
        await store.events("nope")


async def test_bad_arguments_fail_at_the_call(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    with pytest.raises(ValueError, match="ts"):
        await store.append(conv, "message", {}, ts="2026-11-26 04:05:06", actor_role="visitor")
    with pytest.raises(ValueError, match="actor_role"):
        await store.append(conv, "message", {}, ts=TS, actor_role="robot")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await store.append(conv, "message", ["x"], ts=TS, actor_role="visitor")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="last_seq"):
        await store.append(conv, "x", {}, ts=TS, actor_role="system", update={"last_seq": 9})
    with pytest.raises(ValueError, match="status"):
        await store.append(conv, "x", {}, ts=TS, actor_role="system", update={"status": "gone"})
    assert await store.last_seq(conv) == 0


async def test_client_id_makes_append_idempotent(store: TranscriptStore) -> None:
    conv, other = await seed(store, 2)
    original = await say(store, conv, "hi", client_id="m-1")
    await say(store, conv, "next", client_id="m-2")
    retry = await store.append(
        conv, "message", {"text": "changed"}, ts="2030-01-01T00:00:00.000Z",
        actor_role="visitor", client_id="m-1",
    )  # fmt: skip
    assert retry.duplicate is True
    assert (retry.seq, retry.ts, retry.body) == (1, TS, {"text": "hi"})
    assert retry == dataclasses.replace(original, duplicate=True)
    assert [e.client_id for e in await store.events(conv)] == ["m-1", "m-2"]
    assert await store.last_seq(conv) == 2
    # client_ids are per conversation
    assert (await say(store, other, "hi", client_id="m-1")).duplicate is False


async def test_duplicate_in_the_same_batch_is_stored_once(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    results = await asyncio.gather(
        *(say(store, conv, f"try {n}", client_id="same") for n in range(5)),
        say(store, conv, "other", client_id="different"),
    )
    same = results[:5]
    assert {e.seq for e in same} == {same[0].seq}
    assert [e.duplicate for e in same] == [False, True, True, True, True]
    assert {e.body["text"] for e in same} == {"try 0"}
    assert sorted(e.seq for e in await store.events(conv)) == [1, 2]
    assert await store.last_seq(conv) == 2


async def test_append_many_is_one_ordered_all_or_nothing_group(store: TranscriptStore) -> None:
    a, b = await seed(store, 2)
    events = await store.append_many(
        [
            NewEvent(a, "message", {"n": 1}, TS, "visitor", client_id="x"),
            NewEvent(b, "message", {"n": 2}, TS, "visitor"),
            NewEvent(a, "message", {"n": 3}, TS, "visitor"),
            NewEvent(a, "message", {"n": 4}, TS, "visitor", client_id="x"),  # repeats the first
        ]
    )
    assert [(e.conversation_id, e.seq, e.duplicate) for e in events] == [
        (a, 1, False), (b, 1, False), (a, 2, False), (a, 1, True),
    ]  # fmt: skip
    with pytest.raises(NotFoundError):
        await store.append_many(
            [
                NewEvent(a, "message", {"n": 5}, TS, "visitor"),
                NewEvent("nope", "message", {"n": 6}, TS, "visitor"),
            ]
        )
    assert await store.last_seq(a) == 2  # the group's other event was not stored
    assert await store.append_many([]) == []


async def test_concurrent_appends_land_gap_free(store: TranscriptStore) -> None:
    conversations = await seed(store, 8)
    rng = random.Random(7)
    plan = [[rng.choice(conversations) for _ in range(30)] for _ in range(40)]

    async def producer(n: int, targets: list[str]) -> list[StoredEvent]:
        out = []
        for i, conv in enumerate(targets):
            out.append(await say(store, conv, f"{n}/{i}", client_id=f"p{n}-{i}"))
            if i % 7 == 0:
                await asyncio.sleep(0)
        return out

    acked = [e for events in await asyncio.gather(*map(producer, range(40), plan)) for e in events]
    assert len(acked) == 1200
    for conv in conversations:
        stored = await store.events(conv)
        mine = sorted((e for e in acked if e.conversation_id == conv), key=lambda e: e.seq)
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert stored == mine  # every ack is exactly what was stored
        assert await store.last_seq(conv) == len(stored)
    # each producer's own events to one conversation got increasing seqs
    for n, targets in enumerate(plan):
        for conv in set(targets):
            seqs = [e.seq for e in acked[n * 30 : (n + 1) * 30] if e.conversation_id == conv]
            assert seqs == sorted(seqs)


async def test_update_rides_atomically_with_its_event(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    await say(store, conv, "hello")
    closed = await store.append(
        conv, "closed", {"by": "visitor"}, ts=TS, actor_role="visitor",
        update={"status": "closed", "closed_at": TS, "closed_by": "visitor", "tags": ["x"]},
    )  # fmt: skip
    record = await store.get_conversation(conv)
    assert record is not None
    assert (record.status, record.closed_at, record.closed_by, record.tags) == (
        "closed", TS, "visitor", ("x",),
    )  # fmt: skip
    assert record.last_seq == closed.seq == 2


async def test_failing_update_fails_its_event_alone(store: TranscriptStore) -> None:
    """An update the database rejects (unknown agent) fails only its own group: its event
    is not stored, takes no seq, and the rest of the same batch commits."""
    a, b = await seed(store, 2)
    results = await asyncio.gather(
        say(store, a, "one"),
        store.append(a, "assigned", {}, ts=TS, actor_role="system", update={"agent_id": "ghost"}),
        say(store, b, "two"),
        say(store, "nope", "unknown conversation"),
        say(store, a, "three"),
        return_exceptions=True,
    )
    ok_a1, bad_update, ok_b, bad_conv, ok_a2 = results
    assert isinstance(bad_update, NotFoundError)
    assert isinstance(bad_conv, NotFoundError)
    assert isinstance(ok_a1, StoredEvent) and isinstance(ok_a2, StoredEvent)
    assert isinstance(ok_b, StoredEvent)
    assert [e.body.get("text") for e in await store.events(a)] == ["one", "three"]
    assert [e.seq for e in await store.events(a)] == [1, 2]
    assert (await store.get_conversation(a)).agent_id is None  # type: ignore[union-attr]
    assert await store.last_seq(b) == 1


async def test_close_flushes_what_is_queued(make_store: StoreFactory) -> None:
    store = make_store()
    await store.open()
    (conv,) = await seed(store)
    tasks = [asyncio.create_task(say(store, conv, f"m{n}", client_id=f"m{n}")) for n in range(50)]
    await asyncio.sleep(0)  # every task has queued its event
    await store.close()
    assert all(t.done() and not t.cancelled() for t in tasks)
    acked = sorted(t.result().seq for t in tasks)
    assert acked == list(range(1, 51))
    with pytest.raises(UnavailableError) as info:
        await say(store, conv, "late")
    assert info.value.code == "unavailable"
    await store.close()  # idempotent

    reopened = make_store()
    await reopened.open()
    try:
        assert [e.seq for e in await reopened.events(conv)] == acked
        assert (await say(reopened, conv, "after reopen")).seq == 51
        assert (await say(reopened, conv, "retry", client_id="m7")).duplicate is True
    finally:
        await reopened.close()


async def test_flush_waits_for_everything_queued(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    tasks = [asyncio.create_task(say(store, conv, f"m{n}")) for n in range(20)]
    await asyncio.sleep(0)
    await store.flush()
    assert all(t.done() for t in tasks)
    await store.flush()  # nothing queued: returns at once


async def test_reopen_sees_everything(make_store: StoreFactory) -> None:
    first = make_store()
    await first.open()
    conversations = await seed(first, 3)
    for conv in conversations:
        for n in range(4):
            await say(first, conv, f"{conv}:{n}", client_id=f"{conv}:{n}")
    await first.update_conversation(conversations[0], status="active", priority=2)
    await first.close()

    second = make_store()
    await second.open()
    try:
        for conv in conversations:
            assert [e.body["text"] for e in await second.events(conv)] == [
                f"{conv}:{n}" for n in range(4)
            ]
            assert await second.last_seq(conv) == 4
        record = await second.get_conversation(conversations[0])
        assert record is not None and (record.status, record.priority) == ("active", 2)
    finally:
        await second.close()


async def test_timestamps_helper() -> None:
    assert iso_now(0) == "1970-01-01T00:00:00.000Z"
    assert iso_now(1795665906.1239) == "2026-11-26T04:05:06.123Z"
    assert len(iso_now()) == 24
