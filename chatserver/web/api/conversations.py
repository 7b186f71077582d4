"""The REST API v1 for integrations (docs/api.md): conversations, their transcripts, messages,
notes, tags, transfers and closing, and the agents with their presence — each an `Operation`
(``OPERATIONS``) declaring its scopes, input and answers next to its handler.

Reads come from the store (the dashboard's keyset-paged list) and the router; every change goes
through `chatserver.core.integrations` — the chat core, so routing, ``seq``, fan-out to live
sockets and idempotency behave as on the WebSocket.

Scopes: ``read`` — the GET operations; ``write`` — every change, and ``as_agent``; ``bot`` —
post a message or a note, hand over, close (as the bot: the key's name). A key that belongs to
a bot (docs/bots.md) speaks as the bot, only in the conversations its bot holds.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver.analytics.filters import parse_when
from chatserver.core.integrations import Actor, IntegrationCommands
from chatserver.store import BadCursor, ConversationQuery, NotFoundError, PageCursor
from chatserver.store.api_keys import ApiKeyRecord
from chatserver.web.api.components import (
    AGENT,
    CONVERSATION,
    EVENT,
    ROW,
    STATUSES,
    agent_json,
    conversation_json,
    event_json,
    row_json,
)
from chatserver.web.api.schema import (
    Body,
    Operation,
    Param,
    Schema,
    array,
    error_schema,
    integer,
    nullable,
    obj,
    string,
)
from chatserver.web.kit import NO_STORE, Refused, ctx_of, error

__all__ = ["MAX_LIMIT", "OPERATIONS"]

#: The most conversations one page of the list holds (``limit``).
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
#: The most tags one call adds or removes, and a tag's length.
MAX_TAGS, MAX_TAG_CHARS = 20, 64
#: A client_id: any string up to this long (kept per key).
MAX_CLIENT_ID = 64
#: A bot's handoff summary, in characters.
MAX_SUMMARY = 2000

READ, WRITE, POST = frozenset({"read"}), frozenset({"write"}), frozenset({"write", "bot"})

_ID = Param("conversation_id", "path", string(maxLength=200), "the conversation's id")
_CLIENT_ID = string(
    "optional idempotency key: a retry with the same one stores nothing and answers with the"
    " event the first call stored",
    minLength=1,
    maxLength=MAX_CLIENT_ID,
)


def _key(request: Request) -> ApiKeyRecord:
    key: ApiKeyRecord = request.state.api_key
    return key


def _commands(request: Request) -> IntegrationCommands:
    ctx = ctx_of(request)
    service = ctx.service
    return IntegrationCommands(service.core, service.conversations, ctx.store, service.bots)


def _ok(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=NO_STORE)


# --- reads ----------------------------------------------------------------------------------


async def list_conversations(request: Request, given: dict[str, Any]) -> Response:
    ctx = ctx_of(request)
    since = parse_when(given["since"], "since") if given.get("since") else None
    until = parse_when(given["until"], "until") if given.get("until") else None
    if since is not None and until is not None and until <= since:
        raise Refused(_invalid("until", f"until ({until}) must be after since ({since})"))
    cursor = None
    if given.get("cursor"):
        try:
            cursor = PageCursor.parse(given["cursor"])
        except BadCursor as exc:
            raise Refused(_invalid("cursor", str(exc))) from None
    try:
        page = await ctx.store.conversations_page(
            ConversationQuery(
                since=since,
                until=until,
                topic=given.get("topic"),
                agent=given.get("agent"),
                tag=given.get("tag"),
                status=given.get("status"),
                cursor=cursor,
                per_page=given.get("limit", DEFAULT_LIMIT),
            )
        )
    except NotFoundError as exc:
        raise Refused(_invalid("agent", str(exc))) from None
    return _ok(
        {
            "conversations": [row_json(r) for r in page.rows],
            "total": page.total,
            "next_cursor": page.older.token() if page.older else None,
        }
    )


async def get_conversation(request: Request, given: dict[str, Any]) -> Response:
    store = ctx_of(request).store
    conv = await store.get_conversation(given["conversation_id"])
    if conv is None:
        return error(404, "not_found", f"no conversation {given['conversation_id']!r}")
    events = await store.events(conv.id)
    return _ok({"conversation": conversation_json(conv), "events": [event_json(e) for e in events]})


async def list_agents(request: Request, given: dict[str, Any]) -> Response:
    ctx = ctx_of(request)
    records = await ctx.store.list_agents()
    states = {s.agent_id: s for s in await ctx.router.agents()}
    return _ok({"agents": [agent_json(a, states.get(a.id)) for a in records]})


# --- changes --------------------------------------------------------------------------------


async def _actor(request: Request, as_agent: str | None) -> Actor:
    key = _key(request)
    if as_agent is None:
        return await _commands(request).as_key(key.id, key.name)
    if "write" not in key.scopes:
        raise Refused(error(403, "forbidden", "as_agent needs an API key with the write scope"))
    return await _commands(request).as_agent(as_agent, key.id)


async def post_message(request: Request, given: dict[str, Any]) -> Response:
    body = given["body"]
    client_id = body.get("client_id")
    actor = await _actor(request, body.get("as_agent"))
    text = body["text"].strip()
    if not text:
        raise Refused(_invalid("body.text", "body.text: write something (not only spaces)"))
    if len(text) > ctx_of(request).settings.max_text_chars:
        limit = ctx_of(request).settings.max_text_chars
        raise Refused(_invalid("body.text", f"body.text: at most {limit} characters"))
    event = await _commands(request).message(actor, given["conversation_id"], text, client_id)
    return _event(event, client_id)


async def post_note(request: Request, given: dict[str, Any]) -> Response:
    body = given["body"]
    client_id = body.get("client_id")
    actor = await _actor(request, None)
    text = body["text"].strip()
    if not text:
        raise Refused(_invalid("body.text", "body.text: write something (not only spaces)"))
    event = await _commands(request).note(actor, given["conversation_id"], text, client_id)
    return _event(event, client_id)


async def post_tags(request: Request, given: dict[str, Any]) -> Response:
    body = given["body"]
    add = [t.strip().lower() for t in body.get("add", [])]
    remove = [t.strip().lower() for t in body.get("remove", [])]
    if not add and not remove:
        raise Refused(_invalid("body.add", "body.add: give tags to add or to remove"))
    if any(not t for t in [*add, *remove]):
        raise Refused(_invalid("body.add", "body.add: a tag cannot be empty"))
    actor = await _actor(request, None)
    client_id = body.get("client_id")
    event = await _commands(request).tag(actor, given["conversation_id"], add, remove, client_id)
    return _event(event, client_id)


async def post_transfer(request: Request, given: dict[str, Any]) -> Response:
    body = given["body"]
    to_agent, to_topic = body.get("to_agent"), body.get("to_topic")
    if (to_agent is None) == (to_topic is None):
        raise Refused(_invalid("body.to_agent", "body: give either to_agent or to_topic"))
    actor = await _actor(request, None)
    client_id = body.get("client_id")
    event = await _commands(request).transfer(
        actor, given["conversation_id"], to_agent=to_agent, to_topic=to_topic, client_id=client_id
    )
    return _event(event, client_id)


async def post_close(request: Request, given: dict[str, Any]) -> Response:
    actor = await _actor(request, None)
    if actor.bot_id is None and "write" not in _key(request).scopes:
        raise Refused(error(403, "forbidden", "closing needs the write scope, or a bot's key"))
    event = await _commands(request).close(actor, given["conversation_id"])
    return _ok({"event": event_json(event)})


async def post_handoff(request: Request, given: dict[str, Any]) -> Response:
    body = given.get("body") or {}
    summary = (body.get("summary") or "").strip() or None
    actor = await _actor(request, None)
    event, done = await _commands(request).handoff(actor, given["conversation_id"], summary)
    answer: dict[str, Any] = {"event": event_json(event)}
    if done is not None:
        result = done.result
        answer["queue"] = {
            "position": result.position if result.status == "queued" else None,
            "eta_s": result.eta_s if result.status == "queued" else None,
            "agents_online": result.agents_online,
        }
    return _ok(answer, 200 if event.duplicate else 201)


def _event(event: Any, client_id: str | None) -> Response:
    body = event_json(event)
    if client_id is not None:
        body["client_id"] = client_id  # the caller's, not the store's per-key form
    return _ok({"event": body}, 200 if event.duplicate else 201)


def _invalid(field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid", "message": message, "field": field},
        status_code=422,
        headers=NO_STORE,
    )


# --- the table ------------------------------------------------------------------------------


def _errors(*statuses: int) -> dict[int, tuple[str, Schema | None]]:
    what = {
        401: "no API key, or an unknown or revoked one",
        403: "the key lacks the scope",
        404: "no such conversation (or agent)",
        409: "the conversation's state does not allow it (closed, not active, …)",
        422: "a parameter or the body is not valid; `field` names it",
        429: "the key's rate is exceeded (`Retry-After`)",
    }
    return {s: (what[s], error_schema(s)) for s in (401, 403, 429, *statuses)}


_EVENT_ANSWER = obj({"event": EVENT}, required=["event"])
_CHANGED = {
    201: ("stored and sent to every participant", _EVENT_ANSWER),
    200: ("a retry with a stored client_id: the event the first call stored", _EVENT_ANSWER),
}

OPERATIONS: list[Operation] = [
    Operation(
        "listConversations", "GET", "/api/v1/conversations",
        "List and filter conversations, newest first",
        "Conversations", list_conversations, READ,
        {200: ("one page and the cursor of the next", obj(
            {"conversations": array(ROW), "total": integer(minimum=0),
             "next_cursor": nullable(string("pass as cursor for the next (older) page"))},
            required=["conversations", "total", "next_cursor"])),
         **_errors(422)},
        params=[
            Param("status", "query", string(enum=STATUSES), "only conversations in this state"),
            Param("topic", "query", string(maxLength=100), "only this topic"),
            Param("agent", "query", string(maxLength=200),
                  "only those this agent (username or id) was assigned"),
            Param("tag", "query", string(maxLength=MAX_TAG_CHARS), "only those with this tag"),
            Param("since", "query", string(maxLength=40),
                  "arrived at or after: a date, an ISO 8601 time, or a span before now (7d)"),
            Param("until", "query", string(maxLength=40), "arrived before (as since)"),
            Param("cursor", "query", string(maxLength=400), "next_cursor of the previous page"),
            Param("limit", "query", integer(minimum=1, maximum=MAX_LIMIT),
                  f"conversations per page, at most {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
        ],
    ),
    Operation(
        "getConversation", "GET", "/api/v1/conversations/{conversation_id}",
        "One conversation with its whole transcript (notes included)",
        "Conversations", get_conversation, READ,
        {200: ("the conversation and its events in seq order", obj(
            {"conversation": CONVERSATION, "events": array(EVENT)},
            required=["conversation", "events"], closed=False)),
         **_errors(404)},
        params=[_ID],
    ),
    Operation(
        "postMessage", "POST", "/api/v1/conversations/{conversation_id}/messages",
        "Post a message the visitor sees at once",
        "Conversations", post_message, POST,
        {**_CHANGED, **_errors(404, 409, 422)},
        params=[_ID],
        body=Body(obj(
            {"text": string("the message", minLength=1, maxLength=4000),
             "client_id": _CLIENT_ID,
             "as_agent": string("write keys: an agent's id to send as (else the key's name)",
                                minLength=1, maxLength=200)},
            required=["text"])),
        description="Sent as the key's integration name, or with `as_agent` (write keys) as"
        " that agent. Bot keys may call it.",
    ),
    Operation(
        "postNote", "POST", "/api/v1/conversations/{conversation_id}/notes",
        "Add an internal note (agents see it, the visitor never does)",
        "Conversations", post_note, POST,
        {**_CHANGED, **_errors(404, 409, 422)},
        params=[_ID],
        body=Body(obj({"text": string(minLength=1, maxLength=4000), "client_id": _CLIENT_ID},
                      required=["text"])),
    ),
    Operation(
        "tagConversation", "POST", "/api/v1/conversations/{conversation_id}/tags",
        "Add and remove tags",
        "Conversations", post_tags, WRITE,
        {**_CHANGED, **_errors(404, 409, 422)},
        params=[_ID],
        body=Body(obj(
            {"add": array(string(minLength=1, maxLength=MAX_TAG_CHARS), maxItems=MAX_TAGS),
             "remove": array(string(minLength=1, maxLength=MAX_TAG_CHARS), maxItems=MAX_TAGS),
             "client_id": _CLIENT_ID})),
    ),
    Operation(
        "transferConversation", "POST", "/api/v1/conversations/{conversation_id}/transfer",
        "Transfer an active chat to an agent or back to a topic's queue",
        "Conversations", post_transfer, WRITE,
        {**_CHANGED, **_errors(404, 409, 422)},
        params=[_ID],
        body=Body(obj(
            {"to_agent": string("an agent's id: offered to them", minLength=1, maxLength=200),
             "to_topic": string("a topic: queued again under it", minLength=1, maxLength=100),
             "client_id": _CLIENT_ID})),
        description="Give exactly one of `to_agent` and `to_topic`.",
    ),
    Operation(
        "handOffConversation", "POST", "/api/v1/conversations/{conversation_id}/handoff",
        "Hand a bot's conversation over to the agents' queue",
        "Conversations", post_handoff, POST,
        {201: ("handed over and queued", obj(
            {"event": EVENT, "queue": obj(
                {"position": nullable(integer(minimum=0)),
                 "eta_s": nullable(integer(minimum=0)),
                 "agents_online": integer(minimum=0)},
                required=["position", "eta_s", "agents_online"])},
            required=["event", "queue"])),
         200: ("a retry: the handoff this bot stored before", _EVENT_ANSWER),
         **_errors(404, 409, 422)},
        params=[_ID],
        body=Body(obj(
            {"summary": string("for the agent who takes over: stored as an internal note",
                               minLength=1, maxLength=MAX_SUMMARY)}),
            required=False),
        description="The bot lets go (docs/bots.md): the conversation joins its topic's queue,"
        " its wait counted from now. A bot's key, for a conversation its bot holds, or a write"
        " key for any bot's conversation. 409 when no bot holds it.",
    ),
    Operation(
        "closeConversation", "POST", "/api/v1/conversations/{conversation_id}/close",
        "Close a conversation (closing a closed one answers with the first close)",
        "Conversations", post_close, POST,
        {200: ("the closed event", _EVENT_ANSWER), **_errors(404, 409)},
        params=[_ID],
    ),
    Operation(
        "listAgents", "GET", "/api/v1/agents",
        "List agents with their presence (online, away, offline) and load",
        "Agents", list_agents, READ,
        {200: ("every agent account", obj({"agents": array(AGENT)}, required=["agents"])),
         **_errors()},
    ),
]  # fmt: skip
