"""`DataLifecycle`: retention, deletion requests and the audit log.

Guarantees (the contract and lifecycle tests check each one):

Audited
    `purge_closed_before` and `forget_visitor` write their audit entry in the same transaction
    as (the first part of) their deletions: no deletion without its record, and a crash part
    way through a purge leaves the entry saying ``"started"`` with what it had deleted so far
    committed.
Complete
    `forget_visitor` removes every stored trace of the visitor in one transaction: the visitor
    row (name, e-mail, token hash), its conversations, their events and routing decisions.
    Freed pages are overwritten (``secure_delete``) so the text does not linger in the database
    file.
Safe for the live hub
    Purges delete closed conversations only, in batches of their own transactions queued with
    the appends, so the hub keeps answering while a large purge runs.
Ordered
    `audit_log` returns the newest entry first.
"""

from __future__ import annotations

from typing import Protocol

from .base import AuditEntry, ForgetResult, JSONObject, PurgeResult

__all__ = ["DataLifecycle"]


class DataLifecycle(Protocol):
    """Retention, deletion requests and the audit log."""

    async def add_audit(
        self,
        action: str,
        details: JSONObject,
        *,
        ts: str,
        actor: str,
        actor_id: str | None = None,
    ) -> AuditEntry:
        """Append one entry to the audit log; returns it with its id."""

    async def audit_log(
        self, *, action: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Entries (of one ``action`` if given), newest first."""

    async def purge_closed_before(
        self, cutoff: str, *, ts: str, actor: str, actor_id: str | None = None, batch: int = 500
    ) -> PurgeResult:
        """Delete conversations closed before ``cutoff`` (with their events and decisions),
        then visitors left without conversations and not seen since ``cutoff``."""

    async def forget_visitor(
        self, visitor_id: str, *, ts: str, actor: str, actor_id: str | None = None
    ) -> ForgetResult:
        """Delete every trace of one visitor (a deletion request). Recorded even when the id
        is unknown, so the request itself is on file."""

    async def analytics_key(self, name: str) -> bytes:
        """A secret made once per database (``"pseudonym"``, ``"seal"``)."""
