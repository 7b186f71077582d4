"""The message path's cache (`ConversationCache.conversation`, chatserver/core/cache.py) never
answers with a stale record.

Each test first exchanges messages so the conversation record (and the visitor's name) is
cached on the node, then changes the conversation the way a user would — close, transfer,
rename, an agent's first reply — and checks that the very next message is judged by the new
state, on one process and across two (where the change arrives over the bus).
"""

from __future__ import annotations

from pathlib import Path

from tests.chatserver.integration.conftest import Hub, add_agent
from tests.chatserver.integration.helpers import open_chat
from tests.support.peer import Peer
from tests.support.stores import query


async def _chat(visitor: Peer, agent: Peer, conv: str, rounds: int = 3, tag: str = "w") -> None:
    """Messages both ways: after the first round the node answers from its cache."""
    for i in range(rounds):
        await visitor.request(
            {"type": "message", "conversation_id": conv, "client_id": f"{tag}v{i}", "text": "hi"}
        )
        await agent.expect("message", client_id=f"{tag}v{i}")
        await agent.request(
            {"type": "message", "conversation_id": conv, "client_id": f"{tag}a{i}", "text": "yo"}
        )
        await visitor.expect("message", client_id=f"{tag}a{i}")


def _conversation_row(data_dir: Path, conv: str) -> tuple[str | None, int]:
    """(first_response_at, last_seq) of a stored conversation."""
    ((first_response_at, last_seq),) = query(
        data_dir, "SELECT first_response_at, last_seq FROM conversations WHERE id = ?", [conv]
    )
    return first_response_at, last_seq


def _message_names(data_dir: Path, conv: str) -> dict[str, str | None]:
    rows = query(
        data_dir,
        "SELECT client_id, actor_name FROM events WHERE conversation_id = ? AND kind = ?",
        [conv, "message"],
    )
    return {client_id: name for client_id, name in rows}


async def test_close_by_the_agent_refuses_the_next_message_on_both_sides(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice")
    hub.start_server()
    agent, _ = await hub.agent("alice")
    visitor, _, conv = await open_chat(hub, agent)
    await _chat(visitor, agent, conv)

    await agent.request({"type": "close", "conversation_id": conv})
    await visitor.expect("closed", conversation_id=conv)

    refused = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "late-v", "text": "wait"},
        expect="error",
    )
    assert refused["code"] == "conflict" and "closed" in refused["message"]
    refused = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "late-a", "text": "bye"},
        expect="error",
    )
    assert refused["code"] == "forbidden"  # a closed chat is held by no one
    assert "late-v" not in _message_names(hub.data_dir, conv)
    assert "late-a" not in _message_names(hub.data_dir, conv)


async def test_close_on_another_process_reaches_the_cache_over_the_bus(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice")
    visitors_node = hub.start_server()
    agents_node = hub.start_server()
    agent, _ = await hub.agent("alice", server=agents_node)
    visitor, _, conv = await open_chat(hub, agent, server=visitors_node)
    await _chat(visitor, agent, conv)

    await agent.request({"type": "close", "conversation_id": conv})
    await visitor.expect("closed", conversation_id=conv)  # the event reached the visitor's node
    refused = await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "late-v", "text": "wait"},
        expect="error",
    )
    assert refused["code"] == "conflict"
    assert "late-v" not in _message_names(hub.data_dir, conv)


async def test_a_transferred_chat_is_no_longer_the_first_agents(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice")
    await add_agent(hub.data_dir, "bob")
    hub.start_server()
    alice, _ = await hub.agent("alice")
    visitor, _, conv = await open_chat(hub, alice)
    await _chat(visitor, alice, conv)
    bob, _ = await hub.agent("bob")

    await alice.request({"type": "transfer", "conversation_id": conv, "to_agent": "bob"})
    refused = await alice.request(
        {"type": "message", "conversation_id": conv, "client_id": "after-a", "text": "still me"},
        expect="error",
    )
    assert refused["code"] == "forbidden"

    offer = await bob.expect("offer", timeout=10)
    await bob.request({"type": "accept", "offer_id": offer["offer_id"]}, expect="assigned")
    await _chat(visitor, bob, conv, tag="b")
    names = _message_names(hub.data_dir, conv)
    assert names["ba0"] == "Bob" and "after-a" not in names


async def test_a_new_visitor_name_is_used_from_the_next_message(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice")
    hub.start_server()
    agent, _ = await hub.agent("alice")
    visitor, token, conv = await open_chat(hub, agent, name="Vera")
    await _chat(visitor, agent, conv)
    # A second tab of the same visitor gives a new name with a left message.
    tab, _ = await hub.visitor(token)
    await tab.request({"type": "resume", "conversation_id": conv, "last_seq": 0}, expect="resumed")
    await tab.request(
        {
            "type": "leave_message",
            "conversation_id": conv,
            "topic": "general",
            "language": "en",
            "name": "Veronica",
            "email": "v@example.com",
            "text": "call me Veronica",
        }
    )
    await visitor.request(
        {"type": "message", "conversation_id": conv, "client_id": "renamed", "text": "hi again"}
    )
    got = await agent.expect("message", client_id="renamed")
    assert got["from"] == {"role": "visitor", "name": "Veronica"}
    names = _message_names(hub.data_dir, conv)
    assert names["wv0"] == "Vera" and names["renamed"] == "Veronica"


async def test_the_first_response_time_is_set_once(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice")
    hub.start_server()
    agent, _ = await hub.agent("alice")
    visitor, _, conv = await open_chat(hub, agent)
    first = await agent.request(
        {"type": "message", "conversation_id": conv, "client_id": "first", "text": "hello"}
    )
    await agent.request(  # straight after, from the cache the first reply just invalidated
        {"type": "message", "conversation_id": conv, "client_id": "second", "text": "there?"}
    )
    await _chat(visitor, agent, conv)
    first_response_at, last_seq = _conversation_row(hub.data_dir, conv)
    assert first_response_at == first["ts"]
    assert last_seq == first["seq"] + 7


async def test_another_visitors_cached_conversation_stays_closed_to_them(hub: Hub) -> None:
    await add_agent(hub.data_dir, "alice")
    hub.start_server()
    agent, _ = await hub.agent("alice")
    visitor, _, conv = await open_chat(hub, agent)
    await _chat(visitor, agent, conv)
    stranger, _ = await hub.visitor()
    refused = await stranger.request(
        {"type": "message", "conversation_id": conv, "client_id": "x", "text": "let me in"},
        expect="error",
    )
    assert refused["code"] == "not_found"
    assert "x" not in _message_names(hub.data_dir, conv)
