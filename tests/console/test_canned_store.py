"""The store's canned responses and tag suggestions (no browser), on every store (SQLite and
PostgreSQL: tests/chatserver/store/conftest.STORES)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatserver.store import Store, open_store
from chatserver.store.base import CannedResponse, ConflictError, NotFoundError, iso_now
from tests.chatserver.store.conftest import STORES, backend, seed, store_url


@pytest.fixture(params=STORES, ids=backend)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(store_url(request, tmp_path)) as s:
        yield s


async def test_shared_and_own_responses(store: Store) -> None:
    now = iso_now()
    shared = await store.add_canned(None, "hello", "Hello! How can I help?", ts=now)
    mine = await store.add_canned("a1", "refund", "Refund issued.", ts=now)
    await store.add_canned("a2", "bye", "Goodbye", ts=now)
    # The same shortcut may exist once shared and once per agent, never twice for one owner.
    await store.add_canned("a1", "hello", "Hi, I'm Ann.", ts=now)
    with pytest.raises(ConflictError):
        await store.add_canned("a1", "refund", "again", ts=now)
    with pytest.raises(ConflictError):
        await store.add_canned(None, "hello", "again", ts=now)

    listed = await store.list_canned("a1")
    assert [(c.shortcut, c.owner_id) for c in listed] == [
        ("hello", None),
        ("hello", "a1"),
        ("refund", "a1"),
    ]
    assert shared.owner_id is None and mine.owner_id == "a1"
    assert await store.get_canned(mine.id) == mine
    await store.delete_canned(mine.id)
    assert await store.get_canned(mine.id) is None
    with pytest.raises(NotFoundError):
        await store.delete_canned(mine.id)


async def test_update_changes_shortcut_and_text_in_place(store: Store) -> None:
    made = await store.add_canned("a1", "refund", "Refund issued.", ts="2024-05-01T12:00:00.000Z")
    await store.add_canned("a1", "bye", "Goodbye", ts=iso_now())
    await store.add_canned(None, "hello", "Hello!", ts=iso_now())
    other = await store.add_canned("a2", "refund", "Bob's refund text", ts=iso_now())

    edited = await store.update_canned(made.id, "refunded", "Your refund is on its way.")
    assert edited == CannedResponse(
        made.id, "a1", "refunded", "Your refund is on its way.", made.created_at
    )
    assert await store.get_canned(made.id) == edited
    # Another owner's row, and the shared one, are untouched.
    assert await store.get_canned(other.id) == other
    # Keeping the shortcut and changing only the text is fine.
    assert (await store.update_canned(made.id, "refunded", "New text")).text == "New text"
    # A shared response can take a shortcut an agent has (owners are separate).
    shared = (await store.list_canned("a1"))[1]
    assert shared.owner_id is None and shared.shortcut == "hello"
    assert (await store.update_canned(shared.id, "refunded", "Shared")).owner_id is None


async def test_update_to_a_taken_shortcut_or_unknown_id_changes_nothing(
    store: Store,
) -> None:
    mine = await store.add_canned("a1", "refund", "Refund issued.", ts=iso_now())
    await store.add_canned("a1", "bye", "Goodbye", ts=iso_now())
    with pytest.raises(ConflictError):
        await store.update_canned(mine.id, "bye", "changed")
    assert await store.get_canned(mine.id) == mine
    with pytest.raises(NotFoundError):
        await store.update_canned(mine.id + 100, "fresh", "text")
    assert [c.shortcut for c in await store.list_canned("a1")] == ["bye", "refund"]
    await store.delete_canned(mine.id)
    with pytest.raises(NotFoundError):
        await store.update_canned(mine.id, "refund", "back")


async def test_used_tags_most_used_first(store: Store) -> None:
    ids = await seed(store, 3)
    await store.update_conversation(ids[0], tags=("refund", "vip"))
    await store.update_conversation(ids[1], tags=("refund",))
    await store.update_conversation(ids[2], tags=("bug", "refund", "vip"))
    assert await store.used_tags() == ["refund", "vip", "bug"]
    assert await store.used_tags(limit=1) == ["refund"]
