"""The routing document on PostgreSQL (`RoutingDocuments`).

Compare and set: the UPDATE names the version it replaces. Two writers of the same version
in READ COMMITTED: the second waits for the first's row lock, then re-checks ``version`` on
the row the first committed, matches nothing and raises `ConflictError`.
"""

from __future__ import annotations

import orjson

from ..base import ConflictError, JSONObject, RoutingDocument
from ..sqlite import _codec as codec
from .connection import Conn, PostgresBase

__all__ = ["RoutingDocumentsPart"]


class RoutingDocumentsPart(PostgresBase):
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

        async def work(conn: Conn) -> int:
            if expected_version == 0:
                cursor = await conn.execute(
                    "INSERT INTO routing_document (id, version, document, updated_at, updated_by)"
                    " VALUES (1, 1, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (text, ts, by),
                )
            else:
                cursor = await conn.execute(
                    "UPDATE routing_document SET version = %s, document = %s, updated_at = %s,"
                    " updated_by = %s WHERE id = 1 AND version = %s",
                    (version, text, ts, by, expected_version),
                )
            return cursor.rowcount

        if await self._transaction("store the routing document", work) != 1:
            raise ConflictError(
                f"the routing document is no longer at version {expected_version}: "
                "someone else changed it; read it again"
            )
        return RoutingDocument(version, document, ts, by)
