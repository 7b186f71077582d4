"""Bots (`chatserver.store.bots.Bots`) and a conversation's bot columns, for every store: each
guarantee of their docstrings."""

from __future__ import annotations

import pytest

from chatserver.store import ConflictError, NotFoundError, Store
from chatserver.store.base import ConversationRecord, ConversationStatus, VisitorRecord
from chatserver.store.bots import BotFigures, BotRecord

T0 = "2026-11-26T04:05:06.123Z"
T1 = "2026-11-26T05:00:00.000Z"


def bot(bot_id: str = "b1", **kw: object) -> BotRecord:
    fields: dict[str, object] = {
        "id": bot_id,
        "name": f"Helper {bot_id}",
        "endpoint_id": "wh1",
        "key_id": "k1",
        "topics": ("billing", "general"),
        "answer_timeout_s": 20.0,
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return BotRecord(**fields)  # type: ignore[arg-type]


async def test_add_get_list_by_name(store: Store) -> None:
    zed, abe = bot("b1", name="Zed"), bot("b2", name="Abe", topics=(), enabled=False)
    await store.add_bot(zed)
    await store.add_bot(abe)
    assert await store.get_bot("b1") == zed
    assert await store.get_bot("b2") == abe
    assert await store.get_bot("nope") is None
    assert [b.name for b in await store.list_bots()] == ["Abe", "Zed"]


async def test_taken_id_or_name_conflicts_and_stores_nothing(store: Store) -> None:
    await store.add_bot(bot("b1"))
    with pytest.raises(ConflictError):
        await store.add_bot(bot("b1", name="Other"))
    with pytest.raises(ConflictError):
        await store.add_bot(bot("b2", name="Helper b1"))
    await store.add_bot(bot("b3"))
    with pytest.raises(ConflictError):
        await store.update_bot("b3", name="Helper b1")
    assert [b.id for b in await store.list_bots()] == ["b1", "b3"]
    assert (await store.get_bot("b3")) == bot("b3")


async def test_bad_values_are_refused(store: Store) -> None:
    for bad in (0, -1, 86_400, True, "20"):
        with pytest.raises(ValueError, match="answer_timeout_s"):
            await store.add_bot(bot("b1", answer_timeout_s=bad))
    with pytest.raises(ValueError, match="topics"):
        await store.add_bot(bot("b1", topics="billing"))
    with pytest.raises(ValueError, match="topics"):
        await store.add_bot(bot("b1", topics=("a,b",)))
    with pytest.raises(ValueError, match="created_at"):
        await store.add_bot(bot("b1", created_at="today"))
    assert await store.list_bots() == []


async def test_update_changes_named_fields_and_delete(store: Store) -> None:
    await store.add_bot(bot("b1"))
    changed = await store.update_bot(
        "b1", topics=["account"], answer_timeout_s=5, enabled=False, updated_at=T1
    )
    assert changed == bot(
        "b1", topics=("account",), answer_timeout_s=5.0, enabled=False, updated_at=T1
    )
    assert await store.get_bot("b1") == changed
    with pytest.raises(ValueError, match="created_at"):
        await store.update_bot("b1", created_at=T1)
    with pytest.raises(NotFoundError):
        await store.update_bot("nope", enabled=True)
    assert await store.delete_bot("b1") is True
    assert await store.delete_bot("b1") is False
    assert await store.list_bots() == []


async def test_a_conversation_keeps_its_bot_and_handover(store: Store) -> None:
    await store.add_visitor(VisitorRecord(id="v1", token_hash="h", site="s", created_at=T0))
    conv = ConversationRecord(
        id="c1", visitor_id="v1", site="s", topic="billing", language="en",
        status="active", created_at=T0, bot_id="b1",
    )  # fmt: skip
    await store.add_conversation(conv)
    assert await store.get_conversation("c1") == conv
    event = await store.append(
        "c1", "handoff", {"by": "bot"}, ts=T1, actor_role="system",
        update={"status": "queued", "handed_over_at": T1},
    )  # fmt: skip
    got = await store.get_conversation("c1")
    assert got is not None and (got.status, got.bot_id, got.handed_over_at) == ("queued", "b1", T1)
    assert got.last_seq == event.seq
    with pytest.raises(ValueError, match="handed_over_at"):
        await store.update_conversation("c1", handed_over_at="soon")


async def test_figures_count_each_bots_conversations(store: Store) -> None:
    await store.add_visitor(VisitorRecord(id="v1", token_hash="h", site="s", created_at=T0))
    rows: list[tuple[str, str | None, ConversationStatus, str | None]] = [
        ("c1", "b1", "active", None),  # held
        ("c2", "b1", "closed", None),  # resolved by the bot
        ("c3", "b1", "queued", T1),  # handed over, waiting
        ("c4", "b1", "closed", T1),  # handed over, then closed
        ("c5", "b2", "closed", None),
        ("c6", None, "closed", None),  # never a bot's
    ]
    for cid, bot_id, status, handed in rows:
        await store.add_conversation(
            ConversationRecord(
                id=cid, visitor_id="v1", site="s", topic="billing", language="en",
                status=status, created_at=T0, bot_id=bot_id, handed_over_at=handed,
            )
        )  # fmt: skip
    assert await store.bot_figures() == {
        "b1": BotFigures(held=1, resolved=1, handed_over=2),
        "b2": BotFigures(held=0, resolved=1, handed_over=0),
    }
