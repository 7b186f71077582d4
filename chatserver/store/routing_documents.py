"""`RoutingDocuments`: the routing topics and languages as edited at run time (admin pages).

Guarantees (tests/admin/test_routing_document.py checks each one):

One document
    There is at most one; `get_routing_document` returns None until the first
    `put_routing_document`.
Compare and set
    A put replaces the document only if the stored version is still ``expected_version`` (0:
    there is none yet) and stores it as ``expected_version + 1``; otherwise it raises
    `ConflictError` and changes nothing (another writer, in this process or another, got there
    first). Versions therefore grow by one per accepted edit and are never reused.
Durable
    Once a put returns, every process reads the new version.
"""

from __future__ import annotations

from typing import Protocol

from .base import JSONObject, RoutingDocument

__all__ = ["RoutingDocuments"]


class RoutingDocuments(Protocol):
    """The one edited routing document, versioned."""

    async def get_routing_document(self) -> RoutingDocument | None: ...

    async def put_routing_document(
        self, document: JSONObject, *, expected_version: int, ts: str, by: str | None = None
    ) -> RoutingDocument: ...
