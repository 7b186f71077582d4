"""A webhook request's body, id and signature, sans I/O.

Body: ``{"id", "type", "created_at", "data"}`` as compact JSON. ``id`` is the same for every
delivery of one event of one type (retries, redeliveries, every endpoint): receivers keep it to
drop duplicates (at least once means a duplicate can come). ``data`` always holds
``conversation`` (id, site, visitor id, topic and language when first sent), the event's
``seq``, ``ts`` and ``actor``, then what the type is about (see docs/webhooks.md).

Signature: header ``X-Chatserver-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`` — the timestamp inside the signed text, so a captured request cannot be
replayed later than the receiver's tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import orjson

from chatserver.store.base import ConversationRecord, StoredEvent

__all__ = ["SIGNATURE_HEADER", "build_body", "event_id", "sign", "verify"]

SIGNATURE_HEADER = "X-Chatserver-Signature"
_NAMESPACE = uuid.UUID("6f1d1c1e-9b0a-4cf4-8a53-2f6d0f3c8e21")


def event_id(conversation_id: str, seq: int, type_: str) -> str:
    """The event's id: the same for every delivery of this event of this type."""
    return "evt_" + uuid.uuid5(_NAMESPACE, f"{conversation_id}/{seq}/{type_}").hex


def _about(type_: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the type is about, from the stored event's body."""
    if type_ == "conversation.created":
        return {"visitor": {"name": body.get("name"), "email": body.get("email")},
                "page_url": body.get("page_url")}  # fmt: skip
    if type_ == "conversation.queued":  # a start, a requeue, or a bot's handoff
        about: dict[str, Any] = {k: body[k] for k in ("topic", "language", "summary") if k in body}
        if "bot_id" in body:  # handed over: by the bot, the visitor, or the timeout
            about["handoff"] = {"by": body.get("by"), "bot_id": body["bot_id"]}
        return about
    if type_ == "conversation.assigned":
        return {"agent": {"id": body.get("agent_id"), "username": body.get("username"),
                          "display_name": body.get("display_name")}}  # fmt: skip
    if type_ == "message.created":
        message = {"text": body.get("text")}
        if body.get("left_message"):
            message["left_message"] = True
        return {"message": message}
    if type_ == "offline_message.created":
        return {"message": {"text": body.get("text")}, "email": body.get("email")}
    if type_ == "conversation.transferred":
        return {k: body.get(k) for k in ("from_agent", "to_agent", "to_topic")}
    if type_ == "conversation.closed":
        return {"closed_by": body.get("by")}
    if type_ == "conversation.rated":
        return {"rating": body.get("score"), "comment": body.get("comment")}
    raise ValueError(f"unknown webhook type {type_!r}")


def build_body(type_: str, event: StoredEvent, conv: ConversationRecord) -> bytes:
    """The request body of one event of one type, as sent (and re-sent) byte for byte."""
    data: dict[str, Any] = {
        "conversation": {
            "id": conv.id,
            "site": conv.site,
            "visitor_id": conv.visitor_id,
            "topic": conv.topic,
            "language": conv.language,
            **({"bot_id": conv.bot_id} if conv.bot_id is not None else {}),
        },
        "seq": event.seq,
        "ts": event.ts,
        "actor": {"role": event.actor_role, "id": event.actor_id, "name": event.actor_name},
        **_about(type_, event.body),
    }
    return orjson.dumps(
        {
            "id": event_id(event.conversation_id, event.seq, type_),
            "type": type_,
            "created_at": event.ts,
            "data": data,
        }
    )


def sign(secret: str, body: bytes, t: int | None = None) -> str:
    """The ``X-Chatserver-Signature`` header's value for ``body`` sent at ``t`` (now)."""
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None,
           tolerance_s: float = 300) -> bool:  # fmt: skip
    """What a receiver does (docs/webhooks.md shows it): the header parses, its timestamp is
    within ``tolerance_s`` of ``now``, and one of its ``v1`` signatures matches."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))
