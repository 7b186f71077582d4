"""Admins' bots (docs/bots.md): the page /admin/bots and its API under /api/v1/admin/bots —
list (with each bot's figures and what a form offers), create, read, change, delete. Each an
`Operation` whose scopes are None: an admin's session or token, never an API key. Every change
is checked whole before anything is stored, written to the audit log (``bot_created``,
``bot_changed``, ``bot_deleted``) and seen by every hub process within
`chatserver.core.bots.BOTS_CACHE_S`.

A bot is a webhook endpoint (how it hears its conversations) and a live API key with the
``bot`` scope (how it answers), named by at most one bot; each topic is taken by at most one
bot. Deleting a bot leaves its conversations as they are (a conversation it holds stays with
nobody until the visitor asks for a person or writes again: then the timeout hands it over).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver.store import iso_now
from chatserver.store.bots import BotFigures, BotRecord
from chatserver.web.admin import admin_page
from chatserver.web.api.schema import (
    Body,
    Operation,
    Param,
    array,
    boolean,
    error_schema,
    integer,
    obj,
    string,
)
from chatserver.web.kit import NO_STORE, Refused, ctx_of, error

__all__ = ["OPERATIONS", "page"]

MAX_NAME = 60
MIN_TIMEOUT_S, MAX_TIMEOUT_S, DEFAULT_TIMEOUT_S = 1, 3600, 20


async def page(request: Request) -> Response:
    return await admin_page(request, "admin_bots.html", "bots")


def bot_json(b: BotRecord, figures: BotFigures | None = None) -> dict[str, Any]:
    f = figures or BotFigures()
    return {
        "id": b.id,
        "name": b.name,
        "endpoint_id": b.endpoint_id,
        "key_id": b.key_id,
        "topics": list(b.topics),
        "answer_timeout_s": b.answer_timeout_s,
        "enabled": b.enabled,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
        "figures": {"held": f.held, "resolved": f.resolved, "handed_over": f.handed_over},
    }


def _invalid(field: str, message: str) -> Refused:
    return Refused(
        JSONResponse(
            {"error": "invalid", "message": message, "field": field},
            status_code=422,
            headers=NO_STORE,
        )
    )


async def _checked(request: Request, fields: dict[str, Any], bot_id: str | None) -> dict[str, Any]:
    """The fields as they will be stored, or `Refused` naming the first bad one."""
    ctx = ctx_of(request)
    store = ctx.store
    out = dict(fields)
    others = [b for b in await store.list_bots() if b.id != bot_id]
    if "name" in fields:
        name = " ".join(fields["name"].split())
        if not name:
            raise _invalid("name", "name: give the bot a name")
        if any(b.name == name for b in others):
            raise Refused(error(409, "conflict", f"name: a bot named {name!r} exists already"))
        out["name"] = name
    if "endpoint_id" in fields and await store.get_webhook(fields["endpoint_id"]) is None:
        raise _invalid("endpoint_id", "endpoint_id: no such webhook endpoint")
    if "key_id" in fields:
        key = await store.get_api_key(fields["key_id"])
        if key is None or key.revoked_at is not None:
            raise _invalid("key_id", "key_id: no such live API key")
        if "bot" not in key.scopes:
            raise _invalid("key_id", f"key_id: the key {key.name!r} lacks the bot scope")
        taken = next((b for b in others if b.key_id == key.id), None)
        if taken is not None:
            raise _invalid("key_id", f"key_id: the key already speaks for the bot {taken.name!r}")
    if "topics" in fields:
        offered = ctx.routing_config.topics
        topics = list(dict.fromkeys(fields["topics"]))
        for topic in topics:
            if topic not in offered:
                allowed = ", ".join(offered)
                raise _invalid("topics", f"topics: {topic!r} is not offered; allowed: {allowed}")
            taken = next((b for b in others if topic in b.topics), None)
            if taken is not None:
                raise _invalid("topics", f"topics: the bot {taken.name!r} takes {topic!r}")
        out["topics"] = topics
    return out


async def _answer(request: Request, bot: BotRecord, status: int = 200) -> Response:
    figures = (await ctx_of(request).store.bot_figures()).get(bot.id)
    return JSONResponse({"bot": bot_json(bot, figures)}, status_code=status, headers=NO_STORE)


async def _audit(request: Request, what: str, detail: dict[str, Any]) -> None:
    admin = request.state.admin
    ctx = ctx_of(request)
    ctx.service.bots.forget()
    await ctx.store.add_audit(what, detail, ts=iso_now(), actor=admin.username, actor_id=admin.id)


async def list_bots(request: Request, given: dict[str, Any]) -> Response:
    ctx = ctx_of(request)
    store = ctx.store
    figures = await store.bot_figures()
    return JSONResponse(
        {
            "bots": [bot_json(b, figures.get(b.id)) for b in await store.list_bots()],
            "topics": list(ctx.routing_config.topics),
            "endpoints": [
                {"id": w.id, "url": w.url, "description": w.description}
                for w in await store.list_webhooks()
            ],
            "keys": [
                {"id": k.id, "name": k.name}
                for k in await store.list_api_keys()
                if k.revoked_at is None and "bot" in k.scopes
            ],
        },
        headers=NO_STORE,
    )


async def create_bot(request: Request, given: dict[str, Any]) -> Response:
    fields = await _checked(request, given["body"], None)
    now = iso_now()
    bot = BotRecord(
        id=uuid.uuid4().hex,
        name=fields["name"],
        endpoint_id=fields["endpoint_id"],
        key_id=fields["key_id"],
        topics=tuple(fields["topics"]),
        answer_timeout_s=float(fields.get("answer_timeout_s", DEFAULT_TIMEOUT_S)),
        enabled=bool(fields.get("enabled", True)),
        created_at=now,
        updated_at=now,
    )
    await ctx_of(request).store.add_bot(bot)
    await _audit(request, "bot_created", {"bot_id": bot.id, "name": bot.name, **fields})
    return await _answer(request, bot, 201)


async def _bot(request: Request, bot_id: str) -> BotRecord:
    bot = await ctx_of(request).store.get_bot(bot_id)
    if bot is None:
        raise Refused(error(404, "not_found", f"no bot {bot_id!r}"))
    return bot


async def get_bot(request: Request, given: dict[str, Any]) -> Response:
    return await _answer(request, await _bot(request, given["bot_id"]))


async def change_bot(request: Request, given: dict[str, Any]) -> Response:
    bot = await _bot(request, given["bot_id"])
    fields = await _checked(request, given["body"], bot.id)
    changed = await ctx_of(request).store.update_bot(bot.id, **fields, updated_at=iso_now())
    await _audit(request, "bot_changed", {"bot_id": bot.id, "name": changed.name, **fields})
    return await _answer(request, changed)


async def delete_bot(request: Request, given: dict[str, Any]) -> Response:
    bot = await _bot(request, given["bot_id"])
    await ctx_of(request).store.delete_bot(bot.id)
    await _audit(request, "bot_deleted", {"bot_id": bot.id, "name": bot.name})
    return Response(status_code=204, headers=NO_STORE)


def _errors(*statuses: int) -> dict[int, tuple[str, Any]]:
    what = {
        401: "not signed in",
        403: "not an admin, or a cross-site request",
        404: "no such bot",
        409: "a bot of that name exists already",
        422: "a field is not valid; `field` names it",
    }
    return {s: (what[s], error_schema(s)) for s in (401, 403, *statuses)}


_FIGURES = obj(
    {"held": integer(minimum=0), "resolved": integer(minimum=0),
     "handed_over": integer(minimum=0)},
    required=["held", "resolved", "handed_over"],
)  # fmt: skip
BOT = obj(
    {"id": string(), "name": string(), "endpoint_id": string(), "key_id": string(),
     "topics": array(string()), "answer_timeout_s": {"type": "number"},
     "enabled": boolean(), "created_at": string(), "updated_at": string(),
     "figures": _FIGURES},
    required=["id", "name", "endpoint_id", "key_id", "topics", "answer_timeout_s", "enabled",
              "created_at", "updated_at", "figures"],
)  # fmt: skip
_FIELDS = {
    "name": string("shown to visitors as the sender of its messages", minLength=1,
                   maxLength=MAX_NAME),
    "endpoint_id": string("the webhook endpoint it hears its conversations through",
                          minLength=1, maxLength=100),
    "key_id": string("a live API key with the bot scope, that it answers with",
                     minLength=1, maxLength=100),
    "topics": array(string(minLength=1, maxLength=100), "the topics it takes first",
                    maxItems=50),
    "answer_timeout_s": integer("seconds a visitor's message may wait for its answer before a"
                                " person takes over", minimum=MIN_TIMEOUT_S,
                                maximum=MAX_TIMEOUT_S),
    "enabled": boolean("false: its topics go to the agents at once"),
}  # fmt: skip
_BOT_ANSWER = obj({"bot": BOT}, required=["bot"])
_BOT_ID = Param("bot_id", "path", string(maxLength=100), "the bot's id")

OPERATIONS: list[Operation] = [
    Operation(
        "listBots", "GET", "/api/v1/admin/bots",
        "List bots with their figures, and what a bot can be made of",
        "Admin", list_bots, None,
        {200: ("every bot by name; the topics, webhook endpoints and live bot keys", obj(
            {"bots": array(BOT), "topics": array(string()),
             "endpoints": array(obj({"id": string(), "url": string(),
                                     "description": string()},
                                    required=["id", "url", "description"])),
             "keys": array(obj({"id": string(), "name": string()},
                               required=["id", "name"]))},
            required=["bots", "topics", "endpoints", "keys"])),
         **_errors()},
    ),
    Operation(
        "createBot", "POST", "/api/v1/admin/bots", "Create a bot",
        "Admin", create_bot, None,
        {201: ("the bot", _BOT_ANSWER), **_errors(409, 422)},
        body=Body(obj(_FIELDS, required=["name", "endpoint_id", "key_id", "topics"])),
    ),
    Operation(
        "getBot", "GET", "/api/v1/admin/bots/{bot_id}", "One bot with its figures",
        "Admin", get_bot, None,
        {200: ("the bot", _BOT_ANSWER), **_errors(404)},
        params=[_BOT_ID],
    ),
    Operation(
        "changeBot", "PATCH", "/api/v1/admin/bots/{bot_id}", "Change a bot (any of its fields)",
        "Admin", change_bot, None,
        {200: ("the bot as it is now", _BOT_ANSWER), **_errors(404, 409, 422)},
        params=[_BOT_ID],
        body=Body(obj(_FIELDS)),
    ),
    Operation(
        "deleteBot", "DELETE", "/api/v1/admin/bots/{bot_id}",
        "Delete a bot (its conversations keep its id for the figures)",
        "Admin", delete_bot, None,
        {204: ("deleted", None), **_errors(404)},
        params=[_BOT_ID],
    ),
]  # fmt: skip
