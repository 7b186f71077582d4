"""Stored events as the frames each role sees, and as bus payloads.

Visitors never see internal events (notes, tags, ratings, the agents' view of a transfer);
their `seq` numbers are simply skipped in a visitor's stream. Events with nothing to show (the
`start` record) render as nothing for anyone.
"""

from __future__ import annotations

from typing import Any

from chatserver.protocol import frames
from chatserver.store.base import StoredEvent


def event_to_wire(event: StoredEvent) -> dict[str, Any]:
    return {
        "c": event.conversation_id,
        "s": event.seq,
        "t": event.ts,
        "k": event.kind,
        "r": event.actor_role,
        "i": event.actor_id,
        "n": event.actor_name,
        "u": event.client_id,
        "b": event.body,
    }


def event_from_wire(data: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        conversation_id=data["c"],
        seq=data["s"],
        ts=data["t"],
        kind=data["k"],
        actor_role=data["r"],
        actor_id=data["i"],
        actor_name=data["n"],
        client_id=data["u"],
        body=data["b"],
    )


def _system_message(event: StoredEvent) -> str:
    return frames.message(
        event.conversation_id,
        seq=event.seq,
        client_id=None,
        from_role="system",
        from_name=None,
        text=str(event.body.get("text", "")),
        ts=event.ts,
    )


def render_event(event: StoredEvent, role: str) -> str | None:
    """The frame `role` receives for a stored event, or None when it sees nothing of it."""
    kind, body, cid = event.kind, event.body, event.conversation_id
    agent = role == "agent"
    if kind == "message":
        return frames.message(
            cid,
            seq=event.seq,
            client_id=event.client_id,
            from_role=event.actor_role,
            from_name=event.actor_name,
            text=str(body.get("text", "")),
            ts=event.ts,
        )
    if kind == "assigned":
        return frames.assigned(cid, str(body.get("display_name") or ""), seq=event.seq, ts=event.ts)
    if kind == "closed":
        return frames.closed(cid, by=body.get("by", event.actor_role), seq=event.seq, ts=event.ts)
    if kind in ("requeued", "handoff"):
        return _system_message(event)
    if kind == "bot":  # a bot took it first: the visitor's "assigned" (agents see its lines)
        if agent:
            return None
        name = str(body.get("name") or "")
        return frames.assigned(cid, name, seq=event.seq, ts=event.ts, bot=True)
    if kind == "transfer":
        if not agent:
            return _system_message(event)
        return frames.transferred(
            cid,
            seq=event.seq,
            ts=event.ts,
            by_name=event.actor_name,
            to_agent=body.get("to_agent"),
            to_topic=body.get("to_topic") if body.get("to_agent") is None else None,
        )
    if not agent:
        return None
    if kind == "note":
        return frames.note(
            cid,
            seq=event.seq,
            from_name=event.actor_name,
            text=str(body.get("text", "")),
            ts=event.ts,
        )
    if kind == "tag":
        return frames.tagged(
            cid,
            list(body.get("all") or body.get("tags") or []),
            seq=event.seq,
            ts=event.ts,
            by_name=event.actor_name,
        )
    if kind == "rating":
        return frames.rated(
            cid, int(body["score"]), comment=body.get("comment"), seq=event.seq, ts=event.ts
        )
    return None
