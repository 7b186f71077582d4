"""The dashboard's conversation list (`DashboardQueries`), for every Store."""

from __future__ import annotations

import pytest

from chatserver.store import (
    AgentRecord,
    BadCursor,
    ConversationQuery,
    ConversationRecord,
    NotFoundError,
    PageCursor,
    Store,
    VisitorRecord,
)

T0 = "2026-11-26T04:05:06.123Z"


def conversation(cid: str, created_at: str, **kw: object) -> ConversationRecord:
    fields: dict[str, object] = {
        "id": cid,
        "visitor_id": "v1",
        "site": "default",
        "topic": "billing",
        "language": "en",
        "status": "queued",
        "created_at": created_at,
    }
    fields.update(kw)
    return ConversationRecord(**fields)  # type: ignore[arg-type]


async def seeded(store: Store) -> None:
    """Four conversations a minute apart (c0 oldest); Ann was assigned c1 and c2."""
    await store.add_agent(
        AgentRecord("a1", "Ann", "Ann Lee", "$argon2id$…", {"billing": 5}, 2, ("agent",), T0)
    )
    await store.add_visitor(VisitorRecord("v1", "hash-v1", "default", T0, name="Vera"))
    for n in range(4):
        await store.add_conversation(
            conversation(
                f"c{n}",
                f"2026-11-26T10:0{n}:00.000Z",
                topic="billing" if n % 2 else "general",
            )
        )
    for cid in ("c1", "c2"):
        await store.append(
            cid, "assigned", {"agent_id": "a1"}, ts=T0, actor_role="system",
            update={"status": "active", "agent_id": "a1", "last_agent_id": "a1",
                    "tags": ["refund"]},
        )  # fmt: skip
    await store.append("c2", "message", {"text": "hi"}, ts=T0, actor_role="visitor")


async def test_newest_first_a_page_at_a_time_with_the_total(store: Store) -> None:
    await seeded(store)
    first = await store.conversations_page(ConversationQuery(per_page=3))
    assert first.total == 4
    assert [r.conversation_id for r in first.rows] == ["c3", "c2", "c1"]
    assert first.newer is None and first.older is not None
    second = await store.conversations_page(ConversationQuery(per_page=3, cursor=first.older))
    assert (second.total, [r.conversation_id for r in second.rows]) == (4, ["c0"])
    assert second.older is None and second.newer is not None
    back = await store.conversations_page(ConversationQuery(per_page=3, cursor=second.newer))
    assert [r.conversation_id for r in back.rows] == ["c3", "c2", "c1"]
    assert back.newer is None and back.older == first.older
    c2 = first.rows[1]
    assert (c2.agent, c2.visitor_name, c2.messages, c2.tags, c2.status) == (
        "Ann Lee",
        "Vera",
        1,
        ("refund",),
        "active",
    )
    assert first.rows[0].agent is None and first.rows[0].messages == 0


async def test_filters(store: Store) -> None:
    await seeded(store)

    async def ids(**kw: object) -> list[str]:
        page = await store.conversations_page(ConversationQuery(**kw))  # type: ignore[arg-type]
        assert page.total == len(page.rows)
        return [r.conversation_id for r in page.rows]

    assert await ids(topic="billing") == ["c3", "c1"]
    assert await ids(status="active") == ["c2", "c1"]
    assert await ids(tag="refund", topic="general") == ["c2"]
    assert await ids(agent="ann") == ["c2", "c1"]
    assert await ids(agent="a1", status="queued") == []
    since, until = "2026-11-26T10:01:00.000Z", "2026-11-26T10:03:00.000Z"
    assert await ids(since=since, until=until) == ["c2", "c1"]


async def test_an_unknown_agent_is_not_found(store: Store) -> None:
    await seeded(store)
    with pytest.raises(NotFoundError, match="no agent 'nobody'"):
        await store.conversations_page(ConversationQuery(agent="nobody"))


async def ids_by_page(store: Store, per_page: int, **kw: object) -> list[list[str]]:
    """Every page of the list, following the older cursors from the first."""
    pages: list[list[str]] = []
    cursor: PageCursor | None = None
    while True:
        found = await store.conversations_page(
            ConversationQuery(per_page=per_page, cursor=cursor, **kw)  # type: ignore[arg-type]
        )
        pages.append([r.conversation_id for r in found.rows])
        if found.older is None:
            return pages
        cursor = PageCursor.parse(found.older.token())  # as a client hands it back


async def test_keyset_pages_break_ties_and_ignore_arrivals(store: Store) -> None:
    await seeded(store)
    # Three more at c3's very second: the newest stored first among equals.
    for cid in ("d1", "d2", "d3"):
        await store.add_conversation(conversation(cid, "2026-11-26T10:03:00.000Z"))
        await store.append(
            cid, "assigned", {"agent_id": "a1"}, ts=T0, actor_role="system",
            update={"last_agent_id": "a1"},
        )  # fmt: skip
    assert await ids_by_page(store, 2) == [["d3", "d2"], ["d1", "c3"], ["c2", "c1"], ["c0"]]
    assert await ids_by_page(store, 2, agent="ann") == [["d3", "d2"], ["d1", "c2"], ["c1"]]
    assert await ids_by_page(store, 1, topic="general") == [["c2"], ["c0"]]
    assert await ids_by_page(store, 3, status="queued") == [["d3", "d2", "d1"], ["c3", "c0"]]
    first = await store.conversations_page(ConversationQuery(per_page=2, agent="a1"))
    # A conversation that arrives meanwhile neither shifts the next page nor repeats a row.
    await store.add_conversation(conversation("new", "2026-11-26T11:00:00.000Z"))
    await store.append("new", "assigned", {"agent_id": "a1"}, ts=T0, actor_role="system")
    second = await store.conversations_page(
        ConversationQuery(per_page=2, agent="a1", cursor=first.older)
    )
    assert [r.conversation_id for r in second.rows] == ["d1", "c2"]
    assert second.total == 6
    newer = await store.conversations_page(
        ConversationQuery(per_page=2, agent="a1", cursor=second.newer)
    )
    assert [r.conversation_id for r in newer.rows] == ["d3", "d2"]
    assert newer.newer is not None  # "new" is newer still
    top = await store.conversations_page(
        ConversationQuery(per_page=2, agent="a1", cursor=newer.newer)
    )
    assert [r.conversation_id for r in top.rows] == ["new"] and top.newer is None


@pytest.mark.parametrize(
    "token", ["", "x", "bm90IGpzb24", "WyJvIiwxLDJd", "WyJxIiwiMjAyNiIsMV0", "WyJvIiwiYSIsMS41XQ"]
)
def test_a_cursor_no_page_handed_out_is_refused(token: str) -> None:
    with pytest.raises(BadCursor, match="is not a page cursor of this list"):
        PageCursor.parse(token)
