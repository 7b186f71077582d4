"""API keys (`ApiKeys`), on either backend."""

from __future__ import annotations

from typing import cast

import orjson

from ..api_keys import API_KEY_SCOPES, ApiKeyRecord, ApiKeyScope
from ..base import NotFoundError
from . import _codec as codec
from .dialect import Row, Tx
from .part import SQLPart

__all__ = ["ApiKeysPart"]

_COLUMNS = "id, name, scopes, secret_hash, created_at, created_by, last_used_at, revoked_at"


class ApiKeysPart(SQLPart):
    """API keys."""

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        codec.check_ts(key.created_at, "created_at")
        unknown = [s for s in key.scopes if s not in API_KEY_SCOPES]
        if unknown or not key.scopes:
            raise ValueError(f"scopes must be some of {list(API_KEY_SCOPES)}, got {key.scopes}")
        await self._insert(
            f"add API key {key.name!r}",
            "api_keys",
            _COLUMNS,
            (
                key.id,
                key.name,
                orjson.dumps(list(dict.fromkeys(key.scopes))).decode(),
                key.secret_hash,
                key.created_at,
                key.created_by,
                key.last_used_at,
                key.revoked_at,
            ),
        )

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        rows = await self._read(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", [key_id])
        return _key(rows[0]) if rows else None

    async def get_api_key_by_hash(self, secret_hash: str) -> ApiKeyRecord | None:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM api_keys WHERE secret_hash = ?", [secret_hash]
        )
        return _key(rows[0]) if rows else None

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        )
        return [_key(row) for row in rows]

    async def revoke_api_key(self, key_id: str, ts: str) -> ApiKeyRecord:
        codec.check_ts(ts)

        async def work(tx: Tx) -> Row | None:
            return await tx.fetchone(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?"
                f" RETURNING {_COLUMNS}",
                (ts, key_id),
            )

        row = await self._transaction("revoke API key", work)
        if row is None:
            raise NotFoundError(f"revoke API key: unknown id {key_id!r}")
        return _key(row)

    async def touch_api_key(self, key_id: str, ts: str) -> None:
        codec.check_ts(ts)

        async def work(tx: Tx) -> int:
            return await tx.execute(
                "UPDATE api_keys SET last_used_at = ?"
                " WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (ts, key_id, ts),
            )

        await self._transaction("touch API key", work)


def _key(row: Row) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row[0],
        name=row[1],
        scopes=tuple(cast(list[ApiKeyScope], orjson.loads(row[2]))),
        secret_hash=row[3],
        created_at=row[4],
        created_by=row[5],
        last_used_at=row[6],
        revoked_at=row[7],
    )
