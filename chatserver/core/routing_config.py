"""The routing configuration in force: the routing file's, with the admins' document over it."""

from __future__ import annotations

import logging

import routing
from chatserver.settings import Settings
from chatserver.store import RoutingDocuments
from routing.config import apply_document

__all__ = ["load_routing_config", "stored_routing"]

log = logging.getLogger("chatserver")


def load_routing_config(settings: Settings) -> routing.RoutingConfig:
    """The routing file's configuration (``--routing-config``), or the shipped default."""
    if settings.routing_config is None:
        return routing.default_config()
    return routing.load_config(settings.routing_config)


async def stored_routing(
    store: RoutingDocuments, base: routing.RoutingConfig
) -> tuple[routing.RoutingConfig, int]:
    """The configuration in force and its document version: ``base`` (the routing file's)
    with the stored document's topics and languages laid over it — the document wins once an
    admin has edited them — or ``base`` alone (version 0) while there is none. A stored
    document the code no longer accepts is logged and skipped rather than stopping the hub."""
    doc = await store.get_routing_document()
    if doc is None:
        return base, 0
    try:
        return apply_document(base, doc.document), doc.version
    except routing.ConfigError as exc:
        log.error(
            "the stored routing document is refused; routing with the file's topics",
            extra={"version": doc.version, "error": str(exc)},
        )
        return base, doc.version
