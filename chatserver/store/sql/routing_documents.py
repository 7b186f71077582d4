"""The routing document (`RoutingDocuments`), on either backend.

Compare and set: the UPDATE names the version it replaces. On SQLite write transactions run one
at a time; on PostgreSQL (READ COMMITTED) the second of two writers of the same version waits
for the first's row lock, then re-checks ``version`` on the row the first committed, matches
nothing and raises `ConflictError`.
"""

from __future__ import annotations

import orjson

from ..base import ConflictError, JSONObject, RoutingDocument
from . import _codec as codec
from .dialect import Tx
from .part import SQLPart

__all__ = ["RoutingDocumentsPart"]


class RoutingDocumentsPart(SQLPart):
    """The one routing document, compare-and-set on its version."""

    async def get_routing_document(self) -> RoutingDocument | None:
        rows = await self._read(
            "SELECT version, document, updated_at, updated_by FROM routing_document WHERE id = 1"
        )
        if not rows:
            return None
        row = rows[0]
        return RoutingDocument(int(row[0]), orjson.loads(row[1]), row[2], row[3])

    async def put_routing_document(
        self, document: JSONObject, *, expected_version: int, ts: str, by: str | None = None
    ) -> RoutingDocument:
        codec.check_ts(ts)
        text = codec.dumps(document)
        version = expected_version + 1

        async def work(tx: Tx) -> int:
            if expected_version == 0:
                return await tx.execute(
                    "INSERT INTO routing_document (id, version, document, updated_at, updated_by)"
                    " VALUES (1, 1, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (text, ts, by),
                )
            return await tx.execute(
                "UPDATE routing_document SET version = ?, document = ?, updated_at = ?,"
                " updated_by = ? WHERE id = 1 AND version = ?",
                (version, text, ts, by, expected_version),
            )

        if await self._transaction("store the routing document", work) != 1:
            raise ConflictError(
                f"the routing document is no longer at version {expected_version}: "
                "someone else changed it; read it again"
            )
        return RoutingDocument(version, document, ts, by)
