"""Bots end to end: real hub processes, a real HTTP receiver standing in for the bot's service
(it hears the conversations through a signed webhook), the bot answering through the REST API
with its key, visitors and agents over WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from tests.admin.conftest import ADMIN, api
from tests.api.conftest import Key, call, make_key
from tests.chatserver.integration.conftest import Hub, hub, hub_env
from tests.support.receiver import Received, Receiver
from tests.webhooks.conftest import endpoint, receiver, start

__all__ = ["hub", "hub_env", "receiver"]


@dataclass
class Bot:
    """A bot as the hub knows it (the admin API's answer), its key and the admin's token."""

    id: str
    name: str
    key: Key
    webhook_id: str
    admin: str


async def make_bot(
    hub: Hub,
    receiver: Receiver,
    *,
    name: str = "Penny",
    topics: tuple[str, ...] = ("billing",),
    timeout_s: int = 20,
    servers: int = 1,
    **env: str,
) -> Bot:
    """Start the hub (an admin, an agent ``ann``), then an endpoint, a bot key and the bot."""
    await start(hub, servers, **env)
    admin = await hub.login(ADMIN)
    hook = await endpoint(hub.server, admin, receiver.url, ["message.created"])
    key = await make_key(hub.server, admin, f"{name} key", "bot")
    r = await api(
        hub.server,
        "POST",
        "/api/v1/admin/bots",
        token=admin,
        json={
            "name": name,
            "endpoint_id": hook["id"],
            "key_id": key.id,
            "topics": list(topics),
            "answer_timeout_s": timeout_s,
        },
    )
    assert r.status_code == 201, r.text
    return Bot(r.json()["bot"]["id"], name, key, hook["id"], admin)


#: What the scripted bot does with a visitor's message: (reply text or None, hand over?).
Script = Callable[[str], tuple[str | None, bool]]


def helpful(text: str) -> tuple[str | None, bool]:
    """Answers a greeting; hands over anything about a refund, with a summary."""
    if "refund" in text.lower():
        return None, True
    return f"Hi, I'm Penny. You said: {text}", False


@contextlib.asynccontextmanager
async def scripted(
    hub: Hub, receiver: Receiver, bot: Bot, script: Script = helpful
) -> AsyncIterator[list[dict[str, Any]]]:
    """Run the bot's service while the block runs: every visitor message of its conversations
    (from the signed webhooks, each once by its event id) is answered as ``script`` says.
    Yields the API answers it got, in order."""
    answers: list[dict[str, Any]] = []
    seen: set[str] = set()

    async def serve() -> None:
        handled = 0

        def more(got: list[Received], seen: int) -> bool:
            return len(got) > seen

        while True:  # woken by each webhook answered; a short wait so a cancel ends it soon
            got = await receiver.until(functools.partial(more, seen=handled), 0.5)
            for r in got or ():
                await handle(r)
            handled = len(got) if got is not None else handled

    async def handle(r: Received) -> None:
        body = r.json
        data = body["data"]
        if body["id"] in seen or data["conversation"].get("bot_id") != bot.id:
            return
        seen.add(body["id"])
        if data["actor"]["role"] != "visitor":
            return
        conv = data["conversation"]["id"]
        reply, hand_over = script(data["message"]["text"])
        if reply is not None:
            got = await call(
                hub.server,
                "POST",
                f"/api/v1/conversations/{conv}/messages",
                key=bot.key.secret,
                json={"text": reply, "client_id": f"re-{body['id']}"},
            )
            answers.append({"call": "message", "status": got.status_code, "json": got.json()})
        if hand_over:
            got = await call(
                hub.server,
                "POST",
                f"/api/v1/conversations/{conv}/handoff",
                key=bot.key.secret,
                json={"summary": f"Wants a refund: {data['message']['text']}"},
            )
            answers.append({"call": "handoff", "status": got.status_code, "json": got.json()})

    task = asyncio.create_task(serve())
    try:
        yield answers
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
