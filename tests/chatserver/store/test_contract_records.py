"""Agents, tokens, visitors, conversations and decisions, for every TranscriptStore."""

from __future__ import annotations

import pytest

from chatserver.store import (
    AgentRecord,
    ConflictError,
    ConversationRecord,
    NotFoundError,
    StoreError,
    TokenRecord,
    TranscriptStore,
    UnavailableError,
    VisitorRecord,
)

from .conftest import seed

T0 = "2026-11-26T04:05:06.123Z"
T1 = "2026-11-26T05:00:00.000Z"
T2 = "2026-11-27T00:00:00.000Z"


def agent(username: str = "Ann", agent_id: str = "a1", **kw: object) -> AgentRecord:
    fields: dict[str, object] = {
        "id": agent_id,
        "username": username,
        "display_name": f"{username} Smith",
        "password_hash": "$argon2id$…",
        "skills": {"billing": 5, "en": 3},
        "capacity": 3,
        "roles": ("agent",),
        "created_at": T0,
    }
    fields.update(kw)
    return AgentRecord(**fields)  # type: ignore[arg-type]


def test_error_codes_map_to_protocol_codes() -> None:
    assert NotFoundError.code == "not_found"
    assert ConflictError.code == "conflict"
    assert UnavailableError.code == "unavailable"
    assert all(issubclass(e, StoreError) for e in (NotFoundError, ConflictError, UnavailableError))


# --- agents ---------------------------------------------------------------------------------


async def test_agent_crud(store: TranscriptStore) -> None:
    ann = agent(roles=("agent", "supervisor"))
    await store.add_agent(ann)
    assert await store.get_agent("a1") == ann
    assert await store.get_agent_by_username("ann") == ann
    assert await store.get_agent_by_username("ANN") == ann
    assert await store.get_agent("zz") is None
    assert await store.get_agent_by_username("nobody") is None

    updated = await store.update_agent(
        "a1", display_name="Ann B.", skills={"billing": 4}, capacity=5, roles=["admin"]
    )
    assert (updated.display_name, updated.skills, updated.capacity, updated.roles) == (
        "Ann B.", {"billing": 4}, 5, ("admin",),
    )  # fmt: skip
    assert await store.get_agent("a1") == updated
    renamed = await store.update_agent("a1", username="Annie")
    assert await store.get_agent_by_username("ANNIE") == renamed
    assert await store.get_agent_by_username("ann") is None


async def test_list_agents_and_disabled(store: TranscriptStore) -> None:
    await store.add_agent(agent("zed", "a2"))
    await store.add_agent(agent("Bob", "a3"))
    await store.add_agent(agent("amy", "a4", disabled=True))
    assert [a.username for a in await store.list_agents()] == ["amy", "Bob", "zed"]
    assert [a.username for a in await store.list_agents(include_disabled=False)] == ["Bob", "zed"]
    enabled = await store.update_agent("a4", disabled=False)
    assert enabled.disabled is False
    assert len(await store.list_agents(include_disabled=False)) == 3


async def test_duplicate_username_is_a_conflict_whatever_the_case(store: TranscriptStore) -> None:
    await store.add_agent(agent("Ann", "a1"))
    with pytest.raises(ConflictError) as info:
        await store.add_agent(agent("aNN", "a2"))
    assert info.value.code == "conflict"
    with pytest.raises(ConflictError):
        await store.add_agent(agent("other", "a1"))  # same id
    await store.add_agent(agent("Ben", "a2"))
    with pytest.raises(ConflictError):
        await store.update_agent("a2", username="ANN")
    assert (await store.get_agent("a2")).username == "Ben"  # type: ignore[union-attr]


async def test_unicode_usernames_ignore_case(store: TranscriptStore) -> None:
    await store.add_agent(agent("Straße", "a1"))
    assert (await store.get_agent_by_username("STRASSE")) is not None
    with pytest.raises(ConflictError):
        await store.add_agent(agent("STRASSE", "a2"))


async def test_update_unknown_agent_is_not_found(store: TranscriptStore) -> None:
    with pytest.raises(NotFoundError) as info:
        await store.update_agent("ghost", capacity=2)
    assert info.value.code == "not_found"


async def test_invalid_agent_fields_are_refused(store: TranscriptStore) -> None:
    with pytest.raises(ValueError, match="level"):
        await store.add_agent(agent(skills={"billing": 9}))
    with pytest.raises(ValueError, match="roles"):
        await store.add_agent(agent(roles=("root",)))
    with pytest.raises(ValueError, match="capacity"):
        await store.add_agent(agent(capacity=-1))
    await store.add_agent(agent())
    with pytest.raises(ValueError, match="cannot change"):
        await store.update_agent("a1", id="a9")
    assert await store.list_agents() == [agent()]


# --- tokens ---------------------------------------------------------------------------------


async def test_token_lifecycle(store: TranscriptStore) -> None:
    await store.add_agent(agent())
    token = TokenRecord(token_hash="h1", agent_id="a1", created_at=T0, expires_at=T2)
    await store.add_token(token)
    await store.add_token(TokenRecord(token_hash="h2", agent_id="a1", created_at=T0))
    assert await store.get_token("h1") == token
    assert await store.get_token("nope") is None

    await store.revoke_token("h1", T1)
    assert (await store.get_token("h1")) == TokenRecord("h1", "a1", T0, T2, T1)
    await store.revoke_token("h1", T2)  # idempotent: keeps the first revocation time
    assert (await store.get_token("h1")).revoked_at == T1  # type: ignore[union-attr]

    await store.add_token(TokenRecord(token_hash="h3", agent_id="a1", created_at=T0))
    assert await store.revoke_agent_tokens("a1", T2) == 2
    assert (await store.get_token("h2")).revoked_at == T2  # type: ignore[union-attr]
    assert (await store.get_token("h1")).revoked_at == T1  # type: ignore[union-attr]
    assert await store.revoke_agent_tokens("a1", T2) == 0


async def test_token_error_paths(store: TranscriptStore) -> None:
    with pytest.raises(NotFoundError):
        await store.add_token(TokenRecord(token_hash="h1", agent_id="ghost", created_at=T0))
    await store.add_agent(agent())
    await store.add_token(TokenRecord(token_hash="h1", agent_id="a1", created_at=T0))
    with pytest.raises(ConflictError):
        await store.add_token(TokenRecord(token_hash="h1", agent_id="a1", created_at=T0))
    with pytest.raises(NotFoundError):
        await store.revoke_token("nope", T1)
    with pytest.raises(NotFoundError):
        await store.revoke_agent_tokens("ghost", T1)


# --- visitors -------------------------------------------------------------------------------


async def test_visitor_crud(store: TranscriptStore) -> None:
    visitor = VisitorRecord(id="v1", token_hash="vh1", site="shop", created_at=T0)
    await store.add_visitor(visitor)
    assert await store.get_visitor("v1") == visitor
    assert await store.get_visitor_by_token_hash("vh1") == visitor
    assert await store.get_visitor("v2") is None
    assert await store.get_visitor_by_token_hash("other") is None

    updated = await store.update_visitor("v1", name="Vi", email="vi@example.com", last_seen_at=T1)
    assert updated == VisitorRecord("v1", "vh1", "shop", T0, "Vi", "vi@example.com", T1)
    assert await store.get_visitor("v1") == updated
    assert (await store.update_visitor("v1", name=None)).name is None


async def test_visitor_error_paths(store: TranscriptStore) -> None:
    await store.add_visitor(VisitorRecord(id="v1", token_hash="vh1", site="s", created_at=T0))
    with pytest.raises(ConflictError):
        await store.add_visitor(VisitorRecord(id="v2", token_hash="vh1", site="s", created_at=T0))
    with pytest.raises(ConflictError):
        await store.add_visitor(VisitorRecord(id="v1", token_hash="vh9", site="s", created_at=T0))
    with pytest.raises(NotFoundError):
        await store.update_visitor("ghost", name="x")
    with pytest.raises(ValueError, match="cannot change"):
        await store.update_visitor("v1", token_hash="x")


# --- conversations --------------------------------------------------------------------------


async def test_conversation_crud_and_listing(store: TranscriptStore) -> None:
    await store.add_agent(agent())
    a, b, c = await seed(store, 3)
    (other,) = await seed(store, 1, visitor="v2")
    record = await store.get_conversation(a)
    assert record is not None
    assert (record.status, record.last_seq, record.tags, record.agent_id) == ("queued", 0, (), None)
    assert await store.get_conversation("nope") is None

    active = await store.update_conversation(
        b, status="active", agent_id="a1", last_agent_id="a1", assigned_at=T1, tags=["vip"]
    )
    assert (active.status, active.agent_id, active.assigned_at, active.tags) == (
        "active", "a1", T1, ("vip",),
    )  # fmt: skip
    await store.update_conversation(c, status="closed", closed_at=T2, closed_by="agent", rating=4)

    assert [r.id for r in await store.list_conversations(visitor_id="v1")] == [a, b, c]
    assert [r.id for r in await store.list_conversations(visitor_id="v1", limit=2)] == [a, b]
    assert [r.id for r in await store.list_conversations(agent_id="a1")] == [b]
    assert [r.id for r in await store.list_conversations(status="queued")] == [a, other]
    assert [r.id for r in await store.list_conversations(status={"active", "closed"})] == [b, c]
    assert [r.id for r in await store.list_conversations(visitor_id="v2", status="queued")] == [
        other
    ]
    assert len(await store.list_conversations()) == 4


async def test_conversation_error_paths(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    with pytest.raises(NotFoundError):
        await store.update_conversation("nope", status="active")
    with pytest.raises(NotFoundError):  # a reference to an unknown agent
        await store.update_conversation(conv, agent_id="ghost")
    with pytest.raises(ValueError, match="cannot change"):
        await store.update_conversation(conv, last_seq=5)
    with pytest.raises(ValueError, match="rating"):
        await store.update_conversation(conv, rating=6)
    with pytest.raises(ConflictError):
        await store.add_conversation(
            ConversationRecord(
                id=conv,
                visitor_id="v1",
                site="s",
                topic="t",
                language="en",
                status="queued",
                created_at=T0,
            )
        )
    with pytest.raises(NotFoundError):
        await store.add_conversation(
            ConversationRecord(
                id="c9",
                visitor_id="ghost",
                site="s",
                topic="t",
                language="en",
                status="queued",
                created_at=T0,
            )
        )
    record = await store.get_conversation(conv)
    assert record is not None and record.status == "queued" and record.agent_id is None


async def test_add_conversation_ignores_last_seq(store: TranscriptStore) -> None:
    await seed(store, 0)
    await store.add_conversation(
        ConversationRecord(
            id="c1",
            visitor_id="v1",
            site="s",
            topic="t",
            language="en",
            status="queued",
            created_at=T0,
            last_seq=41,
        )
    )
    assert await store.last_seq("c1") == 0


# --- decisions ------------------------------------------------------------------------------


async def test_decisions(store: TranscriptStore) -> None:
    (conv,) = await seed(store)
    first = await store.add_decision(conv, T0, {"candidates": ["a1", "a2"], "step": 0})
    second = await store.add_decision(conv, T1, {"candidates": [], "step": 1})
    assert await store.decisions(conv) == [first, second]
    assert first.explanation == {"candidates": ["a1", "a2"], "step": 0}
    assert first.id < second.id
    assert await store.decisions("other") == []
    with pytest.raises(NotFoundError):
        await store.add_decision("nope", T0, {})
