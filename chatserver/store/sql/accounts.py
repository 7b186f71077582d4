"""Agents and their tokens (`Accounts`), on either backend."""

from __future__ import annotations

from typing import Any

from ..base import AgentRecord, NotFoundError, TokenRecord
from . import _codec as codec
from .dialect import Tx
from .part import SQLPart

__all__ = ["AccountsPart"]


class AccountsPart(SQLPart):
    """Agents and tokens."""

    # --- agents -----------------------------------------------------------------------------

    async def add_agent(self, agent: AgentRecord) -> None:
        await self._insert(
            f"add agent {agent.username!r}",
            "agents",
            "id, username, username_key, display_name, password_hash, skills, capacity, roles,"
            " disabled, created_at",
            codec.agent_row(agent),
        )

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        rows = await self._read(
            f"SELECT {codec.AGENT_COLUMNS} FROM agents WHERE id = ?", [agent_id]
        )
        return codec.agent_from_row(rows[0]) if rows else None

    async def get_agent_by_username(self, username: str) -> AgentRecord | None:
        rows = await self._read(
            f"SELECT {codec.AGENT_COLUMNS} FROM agents WHERE username_key = ?",
            [username.casefold()],
        )
        return codec.agent_from_row(rows[0]) if rows else None

    async def list_agents(self, *, include_disabled: bool = True) -> list[AgentRecord]:
        where = "" if include_disabled else " WHERE disabled = 0"
        rows = await self._read(
            f"SELECT {codec.AGENT_COLUMNS} FROM agents{where} ORDER BY username_key"
        )
        return [codec.agent_from_row(row) for row in rows]

    async def update_agent(self, agent_id: str, **fields: Any) -> AgentRecord:
        changes = codec.agent_changes(fields)
        row = await self._update("update agent", "agents", agent_id, changes, codec.AGENT_COLUMNS)
        return codec.agent_from_row(row)

    # --- tokens -----------------------------------------------------------------------------

    async def add_token(self, token: TokenRecord) -> None:
        await self._insert("add token", "tokens", codec.TOKEN_COLUMNS, codec.token_row(token))

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        rows = await self._read(
            f"SELECT {codec.TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?", [token_hash]
        )
        return codec.token_from_row(rows[0]) if rows else None

    async def revoke_token(self, token_hash: str, now: str) -> None:
        codec.check_ts(now, "now")

        async def work(tx: Tx) -> int:
            return await tx.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE token_hash = ?",
                (now, token_hash),
            )

        if not await self._transaction("revoke token", work):
            raise NotFoundError("revoke token: unknown token")

    async def revoke_agent_tokens(self, agent_id: str, now: str) -> int:
        codec.check_ts(now, "now")

        async def work(tx: Tx) -> int:
            if await tx.fetchone("SELECT 1 FROM agents WHERE id = ?", (agent_id,)) is None:
                raise NotFoundError(f"revoke agent tokens: unknown agent {agent_id!r}")
            return await tx.execute(
                "UPDATE tokens SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL",
                (now, agent_id),
            )

        return await self._transaction("revoke agent tokens", work)

    async def tokens_revoked_since(self, since: str) -> list[tuple[str, str]]:
        codec.check_ts(since, "since")
        rows = await self._read(
            "SELECT token_hash, agent_id FROM tokens WHERE revoked_at >= ?", [since]
        )
        return [(str(r[0]), str(r[1])) for r in rows]
