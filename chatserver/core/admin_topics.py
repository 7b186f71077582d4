"""The admins' routing use-cases: topics and languages, edited in the stored routing document.

Each edit reads the document, changes a copy (or refuses with `AdminError`), validates it with
``routing.config`` (a `routing.ConfigError` says what is wrong), stores it if nobody else
changed it meanwhile — compare and set on the document's version, else start again on top of
the other edit — switches this process to it, announces it to the others and records it in
the audit log. Edits on one process take turns (``RoutingHost.routing_edits``).
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import routing
from chatserver.core.admin import Actor, AdminError, Hubs, audit
from chatserver.core.routing_config import stored_routing
from chatserver.store.base import ConflictError, JSONObject, iso_now
from routing.config import apply_document, to_document

OPEN_STATUSES = frozenset({"queued", "offered", "active"})
_DOCUMENT_ATTEMPTS = 20

#: Edits the document in place, or refuses with `AdminError`.
Change = Callable[[dict[str, Any]], Awaitable[None]]


class RoutingHost(Hubs, Protocol):
    """What a routing edit needs of the hub process it runs in (`chatserver.context.HubContext`)."""

    @property
    def routing_edits(self) -> asyncio.Lock:
        """Held by one edit at a time on this process."""

    @property
    def routing_config(self) -> routing.RoutingConfig: ...

    @property
    def file_routing_config(self) -> routing.RoutingConfig | None:
        """The routing file's configuration, before the admins' document was laid over it."""

    async def apply_routing(self, config: routing.RoutingConfig, version: int, now: float) -> None:
        """Route with ``config`` from now on, on this process."""


async def open_counts(ctx: RoutingHost) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Open conversations: (waiting by topic, active by topic, open by language)."""
    waiting: Counter[str] = Counter()
    active: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    for conv in await ctx.store.list_conversations(status=set(OPEN_STATUSES)):
        (active if conv.status == "active" else waiting)[conv.topic] += 1
        languages[conv.language] += 1
    return waiting, active, languages


async def edit_routing(ctx: RoutingHost, actor: Actor, change: Change, what: JSONObject) -> int:
    """Apply ``change`` to the routing document (module docstring); the new version."""
    async with ctx.routing_edits:
        base = ctx.file_routing_config or ctx.routing_config
        for attempt in range(_DOCUMENT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))
            current, version = await stored_routing(ctx.store, base)
            document = copy.deepcopy(to_document(current))
            await change(document)
            config = apply_document(base, document)  # routing.ConfigError: refused
            try:
                stored = await ctx.store.put_routing_document(
                    to_document(config), expected_version=version, ts=iso_now(), by=actor.name
                )
            except ConflictError:
                continue  # another admin's edit landed first: apply ours to theirs
            await ctx.apply_routing(config, stored.version, time.time())
            await ctx.announce("routing", version=str(stored.version))
            await audit(ctx, actor, "routing_edited", {**what, "version": stored.version})
            return stored.version
    raise AdminError("conflict", "the topics keep changing under this edit; try again")


async def create_topic(ctx: RoutingHost, actor: Actor, name: str, table: dict[str, Any]) -> int:
    async def change(document: dict[str, Any]) -> None:
        if name in document["topics"]:
            raise AdminError(
                "conflict", f"topics.{name}: a topic of that name exists already", "name"
            )
        document["topics"][name] = table

    return await edit_routing(
        ctx, actor, change, {"change": "topic_created", "topic": name, **table}
    )


async def change_topic(ctx: RoutingHost, actor: Actor, name: str, table: dict[str, Any]) -> int:
    async def change(document: dict[str, Any]) -> None:
        if name not in document["topics"]:
            raise AdminError("not_found", f"no topic {name!r}")
        document["topics"][name] = table

    return await edit_routing(
        ctx, actor, change, {"change": "topic_changed", "topic": name, **table}
    )


async def delete_topic(ctx: RoutingHost, actor: Actor, name: str) -> int:
    """Only once no open conversation has the topic."""

    async def change(document: dict[str, Any]) -> None:
        if name not in document["topics"]:
            raise AdminError("not_found", f"no topic {name!r}")
        waiting, active, _ = await open_counts(ctx)
        if waiting[name] or active[name]:
            raise AdminError(
                "conflict",
                f"topic {name!r} has {waiting[name]} waiting and {active[name]} active "
                "conversations; delete it once they are closed",
                "form",
            )
        del document["topics"][name]

    return await edit_routing(ctx, actor, change, {"change": "topic_deleted", "topic": name})


async def set_languages(ctx: RoutingHost, actor: Actor, languages: list[Any]) -> int:
    """The languages offered; one still in use by an open conversation cannot go."""

    async def change(document: dict[str, Any]) -> None:
        _, _, in_use = await open_counts(ctx)
        gone = [x for x in document["languages"] if x not in languages and in_use[x]]
        if gone:
            raise AdminError(
                "conflict",
                f"language {gone[0]!r} has {plural(in_use[gone[0]], 'open conversation')}; "
                "remove it once they are closed",
                "languages",
            )
        document["languages"] = languages

    return await edit_routing(ctx, actor, change, {"change": "languages", "languages": languages})


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


__all__ = [
    "OPEN_STATUSES",
    "change_topic",
    "create_topic",
    "delete_topic",
    "edit_routing",
    "open_counts",
    "set_languages",
]
