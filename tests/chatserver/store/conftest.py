"""Fixtures for the transcript store tests.

The contract tests (``test_contract_*.py``) take the ``make_store`` factory and run against
every store URL listed in ``STORES``, through `open_store` as the hub opens its store; each
call of the factory gives a new, unopened store on the SAME database of this test, so
reopening can be tested too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chatserver.store import (
    ConversationRecord,
    Store,
    TranscriptStore,
    VisitorRecord,
    iso_now,
    open_store,
)

StoreFactory = Callable[[], Store]

#: A URL per implementation; ``{tmp}`` is the test's own folder.
STORES = ["sqlite:///{tmp}/transcripts.db"]


@pytest.fixture(params=STORES)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    url = str(request.param).format(tmp=tmp_path)
    return lambda: open_store(url)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[Store]:
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
