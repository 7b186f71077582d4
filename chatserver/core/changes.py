"""The changes stream: how an admin's change reaches every hub process.

A change is committed to the store first; then one entry goes on a Redis stream
(``<prefix>:changes``, the last `CHANGES_KEEP` kept) that every hub process reads at every tick
(`chatserver.context.HubContext.follow_changes`): ``routing`` (with ``version``), or ``agent``
with ``agent_id`` (and ``revoke="1"`` when its sessions end). A lost entry (Redis down at that
moment) costs nothing but time: each process also re-reads what it follows on reconnect.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

__all__ = ["CHANGES_KEEP", "announce", "changes_key"]

#: Entries kept in the changes stream (every hub process reads it at every tick).
CHANGES_KEEP = 1000


def changes_key(prefix: str) -> str:
    return f"{prefix}:changes"


async def announce(redis: aioredis.Redis, prefix: str, kind: str, **fields: str) -> None:
    """Append a change to the stream every hub process follows."""
    entry: dict[Any, Any] = {"kind": kind, **fields}
    await redis.xadd(changes_key(prefix), entry, maxlen=CHANGES_KEEP, approximate=True)
