"""`Accounts`: staff accounts (agents, supervisors, analysts, admins) and their bearer tokens.

Guarantees (the contract tests check each one):

Unique
    An agent's id and its username (ignoring case) are unique: `add_agent` raises
    `ConflictError` for a taken one and stores nothing; so does `add_token` for a token hash
    that is taken.
Tokens by hash
    A token is stored by its hash only; revocation is idempotent (the first ``revoked_at``
    stays) and durable: once `revoke_token`/`revoke_agent_tokens` return, every process sees the
    token as revoked (`tokens_revoked_since` lists it).
Durable, atomic
    Each write is one transaction that has committed when the call returns (see
    `chatserver.store.transcripts`). `update_agent` changes the named `AGENT_FIELDS` together
    or not at all.

Lookups (``get_*``) return ``None`` for an unknown id; writes raise `NotFoundError` instead.
"""

from __future__ import annotations

from typing import Any, Protocol

from .base import AgentRecord, TokenRecord

__all__ = ["Accounts"]


class Accounts(Protocol):
    """Agents and their bearer tokens."""

    # agents
    async def add_agent(self, agent: AgentRecord) -> None:
        """`ConflictError` if the id or the username (ignoring case) is taken."""

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def get_agent_by_username(self, username: str) -> AgentRecord | None:
        """Case-insensitive."""

    async def list_agents(self, *, include_disabled: bool = True) -> list[AgentRecord]:
        """By username."""

    async def update_agent(self, agent_id: str, **fields: Any) -> AgentRecord:
        """Change `AGENT_FIELDS`; returns the updated record."""

    # tokens
    async def add_token(self, token: TokenRecord) -> None: ...

    async def get_token(self, token_hash: str) -> TokenRecord | None: ...

    async def revoke_token(self, token_hash: str, now: str) -> None:
        """Idempotent: a token already revoked keeps its first ``revoked_at``."""

    async def revoke_agent_tokens(self, agent_id: str, now: str) -> int:
        """Revoke every live token of the agent; returns how many were revoked."""

    async def tokens_revoked_since(self, since: str) -> list[tuple[str, str]]:
        """(token hash, agent id) of every token revoked at or after ``since``."""
