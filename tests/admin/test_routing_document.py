"""The stored routing document: one row, replaced by compare-and-set, laid over the routing
file's configuration at start-up (the document wins once an admin edited the topics). On every
store (SQLite and PostgreSQL: tests/chatserver/store/conftest.STORES)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatserver.core.routing_config import stored_routing
from chatserver.store import Store, open_store
from chatserver.store.base import ConflictError, iso_now
from routing import default_config
from routing.config import to_document
from tests.chatserver.store.conftest import STORES, backend, store_url


@pytest.fixture(params=STORES, ids=backend)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request, tmp_path)


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as s:
        yield s


async def test_no_document_means_the_file_alone(store: Store) -> None:
    assert await store.get_routing_document() is None
    config, version = await stored_routing(store, default_config())
    assert version == 0 and config == default_config()


async def test_compare_and_set(store: Store) -> None:
    base = default_config()
    doc = to_document(base)
    doc["topics"]["returns"] = {"topic_level": 1, "language_level": 1, "priority": 0, "relax": []}
    first = await store.put_routing_document(doc, expected_version=0, ts=iso_now(), by="root")
    assert first.version == 1
    # A writer that read "no document" too late is refused and nothing changes.
    with pytest.raises(ConflictError, match="no longer at version 0"):
        await store.put_routing_document({"languages": ["en"]}, expected_version=0, ts=iso_now())
    with pytest.raises(ConflictError, match="no longer at version 5"):
        await store.put_routing_document({"languages": ["en"]}, expected_version=5, ts=iso_now())
    got = await store.get_routing_document()
    assert got is not None and got.version == 1 and got.document == doc and got.updated_by == "root"
    second = await store.put_routing_document(
        {**doc, "languages": ["en"]}, expected_version=1, ts=iso_now()
    )
    assert second.version == 2
    config, version = await stored_routing(store, base)
    assert version == 2
    assert config.languages == ("en",) and "returns" in config.topics
    assert config.offer_timeout_s == base.offer_timeout_s  # timings stay the file's


async def test_two_writers_one_wins(url: str) -> None:
    """Two stores (as two hub processes) writing the same version: exactly one succeeds."""
    a, b = open_store(url), open_store(url)
    await a.open()
    await b.open()
    try:
        doc = to_document(default_config())
        results = await asyncio.gather(
            a.put_routing_document(doc, expected_version=0, ts=iso_now(), by="a"),
            b.put_routing_document(doc, expected_version=0, ts=iso_now(), by="b"),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["ConflictError", "RoutingDocument"]
    finally:
        await a.close()
        await b.close()


async def test_a_document_the_code_refuses_falls_back_to_the_file(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.put_routing_document(
        {"languages": ["en"], "topics": {"en": {}}}, expected_version=0, ts=iso_now()
    )
    config, version = await stored_routing(store, default_config())
    assert config == default_config() and version == 1
    assert "the stored routing document is refused" in caplog.text
