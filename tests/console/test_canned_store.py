"""The store's canned responses and tag suggestions (no browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatserver.store.base import ConflictError, NotFoundError, iso_now
from chatserver.store.sqlite import SQLiteStore
from tests.chatserver.store.conftest import seed


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "chat.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_shared_and_own_responses(store: SQLiteStore) -> None:
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


async def test_used_tags_most_used_first(store: SQLiteStore) -> None:
    ids = await seed(store, 3)
    await store.update_conversation(ids[0], tags=("refund", "vip"))
    await store.update_conversation(ids[1], tags=("refund",))
    await store.update_conversation(ids[2], tags=("bug", "refund", "vip"))
    assert await store.used_tags() == ["refund", "vip", "bug"]
    assert await store.used_tags(limit=1) == ["refund"]
