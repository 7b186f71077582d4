"""Verified identities on visitors (``external_id``, ``verified``) and the conversations of one
verified user across visitors, for every store."""

from __future__ import annotations

import pytest

from chatserver.store import ConversationRecord, Store, VisitorRecord

T = "2026-11-26T04:05:0{}.000Z"


def visitor(vid: str, site: str = "shop", **kw: object) -> VisitorRecord:
    return VisitorRecord(id=vid, token_hash=f"hash-{vid}", site=site, created_at=T.format(0), **kw)  # type: ignore[arg-type]


async def conversation(store: Store, cid: str, vid: str, second: int) -> None:
    await store.add_conversation(
        ConversationRecord(
            id=cid,
            visitor_id=vid,
            site="shop",
            topic="general",
            language="en",
            status="closed",
            created_at=T.format(second),
        )
    )


async def test_identity_fields_round_trip(store: Store) -> None:
    plain = visitor("v0")
    await store.add_visitor(plain)
    assert await store.get_visitor("v0") == plain
    assert (plain.external_id, plain.verified) == (None, False)

    known = visitor("v1", external_id="user-42", verified=True, name="Ada")
    await store.add_visitor(known)
    assert await store.get_visitor("v1") == known
    assert await store.get_visitor_by_token_hash("hash-v1") == known

    updated = await store.update_visitor("v0", external_id="user-7", verified=True)
    assert (updated.external_id, updated.verified) == ("user-7", True)
    assert await store.get_visitor("v0") == updated
    cleared = await store.update_visitor("v0", verified=False)
    assert (cleared.external_id, cleared.verified) == ("user-7", False)


async def test_identity_fields_refuse_wrong_types(store: Store) -> None:
    await store.add_visitor(visitor("v1"))
    with pytest.raises(TypeError):
        await store.update_visitor("v1", verified=1)
    with pytest.raises(TypeError):
        await store.update_visitor("v1", external_id=42)
    with pytest.raises(TypeError):
        await store.add_visitor(visitor("v2", verified="yes"))
    # Nothing changed.
    assert await store.get_visitor("v1") == visitor("v1")
    assert await store.get_visitor("v2") is None


async def test_user_conversations_join_only_verified_visitors_of_the_site(store: Store) -> None:
    await store.add_visitor(visitor("phone", external_id="u1", verified=True))
    await store.add_visitor(visitor("laptop", external_id="u1", verified=True))
    await store.add_visitor(visitor("forger", external_id="u1", verified=False))
    await store.add_visitor(visitor("elsewhere", site="blog", external_id="u1", verified=True))
    await store.add_visitor(visitor("someone", external_id="u2", verified=True))
    await conversation(store, "c-phone-1", "phone", 1)
    await conversation(store, "c-laptop", "laptop", 2)
    await conversation(store, "c-forger", "forger", 3)
    await conversation(store, "c-blog", "elsewhere", 4)
    await conversation(store, "c-u2", "someone", 5)
    await conversation(store, "c-phone-2", "phone", 6)

    found = await store.list_user_conversations("shop", "u1")
    assert [c.id for c in found] == ["c-phone-1", "c-laptop", "c-phone-2"]
    latest = await store.list_user_conversations("shop", "u1", limit=2)
    assert [c.id for c in latest] == ["c-laptop", "c-phone-2"]
    assert [c.id for c in await store.list_user_conversations("blog", "u1")] == ["c-blog"]
    assert await store.list_user_conversations("shop", "nobody") == []

    # A claim is not a proof: once unverified, that visitor's conversations drop out.
    await store.update_visitor("laptop", verified=False)
    found = await store.list_user_conversations("shop", "u1")
    assert [c.id for c in found] == ["c-phone-1", "c-phone-2"]
