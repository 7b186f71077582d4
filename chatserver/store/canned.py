"""`CannedResponses`: the replies agents insert by typing ``/shortcut`` in the console.

Guarantees (tests/console/test_canned_store.py checks each one):

Unique
    (owner, shortcut) is unique: adding a taken one raises `ConflictError` and stores nothing.
Ordered
    `list_canned` returns the shared responses and the agent's own, ordered by shortcut (shared
    first on a tie).
Checked in place
    `update_canned` changes shortcut and text in one transaction (owner, id and ``created_at``
    stay); it raises `NotFoundError` for an unknown id and `ConflictError` when the owner has
    that shortcut already, and then changes nothing. `delete_canned` of an unknown id raises
    `NotFoundError`.
"""

from __future__ import annotations

from typing import Protocol

from .base import CannedResponse

__all__ = ["CannedResponses"]


class CannedResponses(Protocol):
    """Canned responses, shared (``owner_id`` None) and per agent; the tags in use."""

    async def list_canned(self, agent_id: str) -> list[CannedResponse]: ...

    async def get_canned(self, canned_id: int) -> CannedResponse | None: ...

    async def add_canned(
        self, owner_id: str | None, shortcut: str, text: str, *, ts: str
    ) -> CannedResponse: ...

    async def delete_canned(self, canned_id: int) -> None: ...

    async def update_canned(self, canned_id: int, shortcut: str, text: str) -> CannedResponse: ...

    async def used_tags(self, limit: int = 200) -> list[str]:
        """Tags already on conversations, most used first (suggestions for the console)."""
