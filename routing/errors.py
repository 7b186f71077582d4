"""The routing exception tree. Every error carries ``code``, the wire protocol's error code
the hub answers with (see /work/shared/PROTOCOL.md)::

    RoutingError                 internal     anything else the router refuses
    ├── ConfigError              internal     the routing file is unreadable or invalid
    ├── OfferNotFound            not_found    no such offer, or it was withdrawn
    ├── OfferExpired             conflict     accepted too late ("offer expired 2.1 s ago")
    ├── NotYourOffer             forbidden    the offer was made to another agent
    ├── UnknownConversation      not_found    the router holds no such conversation
    ├── UnknownAgent             not_found    upsert_agent() was never called for this id
    └── AgentUnavailable         unavailable  transfer target not online or without room
"""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of every error raised by :mod:`routing`."""

    code = "internal"


class ConfigError(RoutingError):
    """The routing configuration is invalid; the message names the offending key."""


class OfferNotFound(RoutingError):
    code = "not_found"


class OfferExpired(RoutingError):
    """The offer's deadline passed; ``expired_ago_s`` says by how much."""

    code = "conflict"

    def __init__(self, message: str, expired_ago_s: float = 0.0) -> None:
        super().__init__(message)
        self.expired_ago_s = expired_ago_s


class NotYourOffer(RoutingError):
    code = "forbidden"


class UnknownConversation(RoutingError):
    code = "not_found"


class UnknownAgent(RoutingError):
    code = "not_found"


class AgentUnavailable(RoutingError):
    code = "unavailable"


__all__ = [
    "AgentUnavailable",
    "ConfigError",
    "NotYourOffer",
    "OfferExpired",
    "OfferNotFound",
    "RoutingError",
    "UnknownAgent",
    "UnknownConversation",
]
