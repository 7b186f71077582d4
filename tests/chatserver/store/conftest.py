"""Fixtures for the transcript store tests.

The contract tests (``test_contract_*.py``) take the ``make_store`` factory and run against
every implementation listed in ``STORES``; each call of the factory gives a new, unopened
store on the SAME database of this test, so reopening can be tested too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chatserver.store import (
    ConversationRecord,
    SQLiteStore,
    TranscriptStore,
    VisitorRecord,
    iso_now,
)

StoreFactory = Callable[[], TranscriptStore]

STORES = ["sqlite"]


@pytest.fixture(params=STORES)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "sqlite":
        path = tmp_path / "transcripts.db"
        return lambda: SQLiteStore(path)
    raise AssertionError(f"unknown store {request.param}")  # pragma: no cover


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[TranscriptStore]:
    opened = make_store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def seed(store: TranscriptStore, count: int = 1, *, visitor: str = "v1") -> list[str]:
    """One visitor and ``count`` queued conversations of theirs; returns the conversation ids."""
    now = iso_now()
    if await store.get_visitor(visitor) is None:
        await store.add_visitor(
            VisitorRecord(id=visitor, token_hash=f"hash-{visitor}", site="default", created_at=now)
        )
    ids = []
    for n in range(count):
        cid = f"{visitor}-c{n}"
        await store.add_conversation(
            ConversationRecord(
                id=cid,
                visitor_id=visitor,
                site="default",
                topic="billing",
                language="en",
                status="queued",
                created_at=now,
            )
        )
        ids.append(cid)
    return ids
