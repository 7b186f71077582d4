"""The values the router takes and gives back. Times are seconds (float), as passed in ``now``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AgentStatus = Literal["online", "away", "offline"]


@dataclass(frozen=True)
class ConversationRequest:
    """A conversation asking for an agent. ``priority`` None takes the topic's default;
    ``meta`` is opaque to the router and travels in ``offered`` events and :class:`Offer`."""

    conversation_id: str
    topic: str
    language: str
    priority: int | None = None
    preferred_agent: str | None = None
    avoid: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Offer:
    """A conversation reserved on an agent until ``deadline`` (accept or decline it)."""

    offer_id: str
    conversation_id: str
    agent_id: str
    deadline: float
    topic: str
    language: str
    arrived_at: float
    meta: dict[str, str]


@dataclass(frozen=True)
class RouteResult:
    """What became of a request: offered at once, or queued at ``position`` (1 = next).

    ``agents_online`` counts online agents having the topic skill at all; 0 means nobody who
    could ever take it is online.
    """

    conversation_id: str
    status: Literal["queued", "offered"]
    position: int | None
    eta_s: int | None
    offer: Offer | None
    agents_online: int


@dataclass(frozen=True)
class Assignment:
    """An accepted offer; ``explanation`` is the decision record that chose the agent."""

    conversation_id: str
    agent_id: str
    offer_id: str
    explanation: dict[str, Any]


@dataclass(frozen=True)
class TickResult:
    """What one tick did: offers that expired, offers it made, conversations of offline agents
    it put back in the queue, and hub nodes it declared dead."""

    expired: list[Offer]
    offers: list[Offer]
    requeued: list[str]
    dead_nodes: list[str]


@dataclass(frozen=True)
class AgentState:
    """``active``: conversations held; ``reserved``: conversations offered and not yet answered."""

    agent_id: str
    status: str
    capacity: int
    load: int
    active: list[str]
    reserved: list[str]
    node: str | None
    skills: dict[str, int]
    idle_since: float


@dataclass(frozen=True)
class QueueEntry:
    """A waiting conversation; ``position`` counts from 1 within its topic's queue."""

    conversation_id: str
    topic: str
    language: str
    priority: int
    arrived_at: float
    position: int
    eta_s: int | None
    state: str


__all__ = [
    "AgentState",
    "AgentStatus",
    "Assignment",
    "ConversationRequest",
    "Offer",
    "QueueEntry",
    "RouteResult",
    "TickResult",
]
