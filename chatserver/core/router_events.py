"""The router's events → the frames this node's clients receive.

The router publishes its decisions on one channel that every hub process hears (through the
bus): an offer made or withdrawn, a new first of a queue, a conversation requeued, an agent's
presence changed. Each process sends frames only to its own connections; offers are counted
once, by the process that holds the agent (``node``).
"""

from __future__ import annotations

from typing import Any

import routing
from chatserver import protocol as p
from chatserver.core.base import Core


class RouterEvents:
    def __init__(self, core: Core) -> None:
        self.core = core

    def on_router_event(self, event: dict[str, Any]) -> None:
        core = self.core
        kind = event.get("type")
        node = core.settings.node_id
        if kind == "offered" and event.get("node") == node:
            core.metrics.offers.labels("made").inc()
            frame = offer_frame_from_event(event, core.now())
            for client in core.hub.agent_clients(event["agent_id"]):
                client.send(frame)
        elif kind == "offer_withdrawn":
            if event.get("reason") != "cancelled" and core.hub.visitors_of(
                event["conversation_id"]
            ):
                # Back in the queue (declined, expired, agent gone): follow it again.
                core.positions.follow(event["conversation_id"])
            if event.get("node") != node:
                return
            core.metrics.offers.labels(event.get("reason", "withdrawn")).inc()
            frame = p.frames.offer_withdrawn(
                event["offer_id"], event["conversation_id"], reason=event.get("reason")
            )
            for client in core.hub.agent_clients(event["agent_id"]):
                client.send(frame)
        elif kind == "requeued":
            if core.hub.visitors_of(event["conversation_id"]):
                core.positions.follow(event["conversation_id"])
        elif kind == "queue":
            # A new first of its queue: told at once, not at the next tick.
            cid = event["conversation_id"]
            frame = p.frames.queue(cid, event["position"], event.get("eta_s"))
            visitors = core.hub.visitors_of(cid)
            for client in visitors:
                client.send(frame)
            if visitors:
                core.positions.follow(cid, event["position"], event.get("eta_s"))
        elif kind == "presence":
            if not event.get("reason"):
                return
            frame = p.frames.status(
                event["status"],
                reason=event.get("reason", "missed offers") if event.get("auto") else None,
            )
            for client in core.hub.agent_clients(event["agent_id"]):
                client.send(frame)


def offer_frame(offer: routing.Offer, now: float) -> str:
    """``offer`` for one of the router's standing offers."""
    brief = p.ConversationBrief(
        conversation_id=offer.conversation_id,
        topic=offer.topic,
        language=offer.language,
        visitor_name=offer.meta.get("visitor_name") or None,
        waited_s=max(0, round(now - offer.arrived_at)),
        preview=offer.meta.get("preview") or None,
        page_url=offer.meta.get("page_url") or None,
    )
    return p.frames.offer(offer.offer_id, brief, max(0, round(offer.deadline - now)))


def offer_frame_from_event(event: dict[str, Any], now: float) -> str:
    """``offer`` for the router's ``offered`` event."""
    meta = event.get("meta") or {}
    brief = p.ConversationBrief(
        conversation_id=event["conversation_id"],
        topic=event["topic"],
        language=event["language"],
        visitor_name=meta.get("visitor_name") or None,
        waited_s=max(0, round(now - float(event.get("arrived_at", now)))),
        preview=meta.get("preview") or None,
        page_url=meta.get("page_url") or None,
    )
    expires_in_s = max(0, round(float(event.get("deadline", now)) - now))
    return p.frames.offer(event["offer_id"], brief, expires_in_s)
