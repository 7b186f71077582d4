"""API keys (`chatserver.store.api_keys.ApiKeys`), for every store: each guarantee of its
docstring."""

from __future__ import annotations

import dataclasses

import pytest

from chatserver.store import ConflictError, NotFoundError, Store
from chatserver.store.api_keys import ApiKeyRecord

from .conftest import StoreFactory

T0 = "2026-11-26T04:05:06.123Z"
T1 = "2026-11-26T05:00:00.000Z"
T2 = "2026-11-27T00:00:00.000Z"


def key(key_id: str = "k1", **kw: object) -> ApiKeyRecord:
    fields: dict[str, object] = {
        "id": key_id,
        "name": f"CRM {key_id}",
        "scopes": ("read", "write"),
        "secret_hash": f"hash-{key_id}",
        "created_at": T0,
        "created_by": "a1",
    }
    fields.update(kw)
    return ApiKeyRecord(**fields)  # type: ignore[arg-type]


async def test_add_get_and_list_newest_first(store: Store) -> None:
    first, second, third = key("k1"), key("k2", created_at=T1), key("k3", created_at=T1)
    for k in (first, second, third):
        await store.add_api_key(k)
    assert await store.get_api_key("k1") == first
    assert await store.get_api_key_by_hash("hash-k2") == second
    assert await store.get_api_key("nope") is None
    assert await store.get_api_key_by_hash("nope") is None
    assert [k.id for k in await store.list_api_keys()] == ["k3", "k2", "k1"]


async def test_taken_id_or_hash_conflicts_and_stores_nothing(store: Store) -> None:
    await store.add_api_key(key("k1"))
    with pytest.raises(ConflictError):
        await store.add_api_key(key("k1", secret_hash="other"))
    with pytest.raises(ConflictError):
        await store.add_api_key(key("k2", secret_hash="hash-k1"))
    assert [k.id for k in await store.list_api_keys()] == ["k1"]
    assert await store.get_api_key_by_hash("other") is None


async def test_bad_scopes_and_timestamps_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="scopes"):
        await store.add_api_key(key("k1", scopes=("admin",)))
    with pytest.raises(ValueError, match="scopes"):
        await store.add_api_key(key("k1", scopes=()))
    with pytest.raises(ValueError, match="created_at"):
        await store.add_api_key(key("k1", created_at="yesterday"))
    assert await store.list_api_keys() == []


async def test_revocation_is_final_and_seen_by_another_store_at_once(
    make_store: StoreFactory,
) -> None:
    async with make_store() as one, make_store() as other:
        await one.add_api_key(key("k1"))
        assert (await other.get_api_key_by_hash("hash-k1")) == key("k1")
        revoked = await one.revoke_api_key("k1", T1)
        assert revoked == dataclasses.replace(key("k1"), revoked_at=T1)
        seen = await other.get_api_key_by_hash("hash-k1")
        assert seen is not None and seen.revoked_at == T1
        again = await other.revoke_api_key("k1", T2)  # the first revocation stands
        assert again.revoked_at == T1
        with pytest.raises(NotFoundError):
            await one.revoke_api_key("nope", T1)
        assert [k.revoked_at for k in await one.list_api_keys()] == [T1]


async def test_last_use_only_moves_forward(store: Store) -> None:
    await store.add_api_key(key("k1"))
    await store.touch_api_key("k1", T1)
    await store.touch_api_key("k1", T0)  # an older use, arriving late
    found = await store.get_api_key("k1")
    assert found is not None and found.last_used_at == T1
    await store.touch_api_key("k1", T2)
    found = await store.get_api_key("k1")
    assert found is not None and found.last_used_at == T2
    await store.touch_api_key("nope", T2)  # ignored
    assert [k.id for k in await store.list_api_keys()] == ["k1"]
