"""The REST API v1's named schemas (``components.schemas`` of /api/v1/openapi.json) and the
functions that build each answer in exactly that shape."""

from __future__ import annotations

from typing import Any

import routing
from chatserver.store import AgentRecord, ConversationRecord, ConversationRow, StoredEvent
from chatserver.store.api_keys import API_KEY_SCOPES, ApiKeyRecord
from chatserver.web.api.schema import (
    Schema,
    array,
    boolean,
    integer,
    nullable,
    obj,
    ref,
    string,
)

__all__ = [
    "COMPONENTS",
    "STATUSES",
    "agent_json",
    "api_key_json",
    "conversation_json",
    "event_json",
    "row_json",
]

STATUSES = ["queued", "offered", "active", "closed"]
TIME = "ISO 8601 UTC, milliseconds (2026-05-01T12:00:00.000Z)"

COMPONENTS: dict[str, Schema] = {
    "Event": obj(
        {
            "seq": integer("position in the conversation, from 1", minimum=1),
            "ts": string(TIME),
            "kind": string("message, note, tag, transfer, assigned, closed, rated, …"),
            "from": obj(
                {
                    "role": string(enum=["visitor", "agent", "system"]),
                    "id": nullable(
                        string("agent id, visitor id, key:<API key id> or bot:<bot id>")
                    ),
                    "name": nullable(string("as shown")),
                },
                required=["role", "id", "name"],
            ),
            "client_id": nullable(string("the sender's idempotency key")),
            "body": obj({}, description="the event's fields (text, tags, …)", closed=False),
        },
        required=["seq", "ts", "kind", "from", "client_id", "body"],
        description="One stored event of a conversation's transcript.",
    ),
    "Conversation": obj(
        {
            "conversation_id": string(),
            "visitor_id": string(),
            "site": string(),
            "topic": string(),
            "language": string(),
            "status": string(enum=STATUSES),
            "priority": integer(),
            "agent_id": nullable(string("the agent holding it now")),
            "last_agent_id": nullable(string()),
            "created_at": string(TIME),
            "assigned_at": nullable(string(TIME)),
            "first_response_at": nullable(string(TIME)),
            "closed_at": nullable(string(TIME)),
            "closed_by": nullable(string(enum=["visitor", "agent", "system"])),
            "page_url": nullable(string()),
            "last_seq": integer(minimum=0),
            "rating": nullable(integer(minimum=1, maximum=5)),
            "rating_comment": nullable(string()),
            "tags": array(string()),
            "bot_id": nullable(string("the bot that held it first (docs/bots.md)")),
            "handed_over_at": nullable(string(TIME + "; when its bot handed it over")),
        },
        required=["conversation_id", "status", "topic", "language", "last_seq", "tags"],
    ),
    "ConversationRow": obj(
        {
            "conversation_id": string(),
            "created_at": string(TIME),
            "closed_at": nullable(string(TIME)),
            "topic": string(),
            "language": string(),
            "status": string(enum=STATUSES),
            "rating": nullable(integer(minimum=1, maximum=5)),
            "tags": array(string()),
            "agent": nullable(string("the last assigned agent's display name")),
            "bot": nullable(string("the bot that holds it now (docs/bots.md)")),
            "visitor_name": nullable(string()),
            "messages": integer(minimum=0),
        },
        required=["conversation_id", "created_at", "status", "topic", "tags", "messages"],
    ),
    "Agent": obj(
        {
            "id": string(),
            "username": string(),
            "display_name": string(),
            "roles": array(string()),
            "skills": obj({}, description="skill → level", closed=False),
            "capacity": integer(minimum=0),
            "disabled": boolean(),
            "status": string(
                "from the router: online, away or offline", enum=["online", "away", "offline"]
            ),
            "load": integer("chats held now", minimum=0),
        },
        required=["id", "username", "display_name", "status", "load", "capacity"],
    ),
    "ApiKey": obj(
        {
            "id": string("the key's public id (the part after csk_)"),
            "name": string("the integration's name; its messages are sent as it"),
            "scopes": array(string(enum=list(API_KEY_SCOPES)), minItems=1),
            "created_at": string(TIME),
            "created_by": nullable(string("the admin's agent id")),
            "last_used_at": nullable(string(TIME + ", within a minute")),
            "revoked_at": nullable(string(TIME)),
        },
        required=["id", "name", "scopes", "created_at", "last_used_at", "revoked_at"],
    ),
}

EVENT, CONVERSATION, ROW, AGENT, API_KEY = (
    ref("Event"),
    ref("Conversation"),
    ref("ConversationRow"),
    ref("Agent"),
    ref("ApiKey"),
)


def event_json(e: StoredEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "ts": e.ts,
        "kind": e.kind,
        "from": {"role": e.actor_role, "id": e.actor_id, "name": e.actor_name},
        "client_id": e.client_id,
        "body": e.body,
    }


def conversation_json(conv: ConversationRecord) -> dict[str, Any]:
    return {
        "conversation_id": conv.id,
        "visitor_id": conv.visitor_id,
        "site": conv.site,
        "topic": conv.topic,
        "language": conv.language,
        "status": conv.status,
        "priority": conv.priority,
        "agent_id": conv.agent_id,
        "last_agent_id": conv.last_agent_id,
        "created_at": conv.created_at,
        "assigned_at": conv.assigned_at,
        "first_response_at": conv.first_response_at,
        "closed_at": conv.closed_at,
        "closed_by": conv.closed_by,
        "page_url": conv.page_url,
        "last_seq": conv.last_seq,
        "rating": conv.rating,
        "rating_comment": conv.rating_comment,
        "tags": list(conv.tags),
        "bot_id": conv.bot_id,
        "handed_over_at": conv.handed_over_at,
    }


def row_json(r: ConversationRow) -> dict[str, Any]:
    return {
        "conversation_id": r.conversation_id,
        "created_at": r.created_at,
        "closed_at": r.closed_at,
        "topic": r.topic,
        "language": r.language,
        "status": r.status,
        "rating": r.rating,
        "tags": list(r.tags),
        "agent": r.agent,
        "visitor_name": r.visitor_name,
        "messages": r.messages,
        "bot": r.bot,
    }


def agent_json(agent: AgentRecord, state: routing.AgentState | None) -> dict[str, Any]:
    status = state.status if state is not None and not agent.disabled else "offline"
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "roles": list(agent.roles),
        "skills": dict(agent.skills),
        "capacity": agent.capacity,
        "disabled": agent.disabled,
        "status": status if status in ("online", "away") else "offline",
        "load": state.load if state is not None else 0,
    }


def api_key_json(key: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": list(key.scopes),
        "created_at": key.created_at,
        "created_by": key.created_by,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }
