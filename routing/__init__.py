"""Skills-and-load routing on Redis: which agent gets which conversation.

A library with no web code; the hub calls :class:`Router`. All state lives in Redis, every state
change is one Lua script under ``routing/lua/``, and time is always an argument (``now``).
See docs/routing.md for the rules, the configuration file, the events and the formulas.
"""

from routing.config import RelaxStep, RoutingConfig, TopicConfig, default_config, load_config
from routing.errors import (
    AgentUnavailable,
    ConfigError,
    NotYourOffer,
    OfferExpired,
    OfferNotFound,
    RoutingError,
    UnknownAgent,
    UnknownConversation,
)
from routing.models import (
    AgentState,
    Assignment,
    ConversationRequest,
    Offer,
    QueueEntry,
    RouteResult,
    TickResult,
)
from routing.router import Router

__all__ = [
    "AgentState",
    "AgentUnavailable",
    "Assignment",
    "ConfigError",
    "ConversationRequest",
    "NotYourOffer",
    "Offer",
    "OfferExpired",
    "OfferNotFound",
    "QueueEntry",
    "RelaxStep",
    "RouteResult",
    "Router",
    "RoutingConfig",
    "RoutingError",
    "TickResult",
    "TopicConfig",
    "UnknownAgent",
    "UnknownConversation",
    "default_config",
    "load_config",
]
