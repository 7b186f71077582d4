"""Where every waiting visitor on this hub stands: `queue` frames (docs/protocol.md).

The router no longer rewrites positions on every change (that cost grew with the backlog and
held Redis for everyone). It publishes the new first of a queue at once; everything else is
read here, on this hub's tick, for this hub's own waiting visitors only: one pipelined round
trip of read-only scripts (``Router.positions``, a ZRANK each). A visitor is sent a frame when
its position or estimate changed, at most once per ``min_interval_s``; so while the queue moves
it hears at least every tick interval after the second, and never more than once a second.

Followed: conversations whose visitor's socket is here, from their ``queued`` answer (start,
resume) until the router says they are no longer waiting (offered, assigned, closed). An offer
withdrawn or a chat requeued (agent gone, transfer) brings a conversation back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chatserver.delivery import Client
from routing import Router


@dataclass
class _Told:
    position: int | None
    eta_s: int | None
    at: float  # monotonic seconds; 0.0 = never


class QueuePositions:
    def __init__(
        self,
        router: Router,
        visitors_of: Callable[[str], Iterable[Client]],
        send: Callable[[Client, dict[str, Any]], None],
        *,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._router = router
        self._visitors_of = visitors_of
        self._send = send
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._followed: dict[str, _Told] = {}
        #: Counts for the benchmark: refreshes run, ids asked, frames sent.
        self.refreshes = 0
        self.asked = 0
        self.sent = 0

    def __len__(self) -> int:
        return len(self._followed)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._followed

    def follow(
        self, conversation_id: str, position: int | None = None, eta_s: int | None = None
    ) -> None:
        """Follow a conversation; ``position``/``eta_s``: what its visitor was just told."""
        at = self._clock() if position is not None else 0.0
        self._followed[conversation_id] = _Told(position, eta_s, at)

    def told(self, conversation_id: str, position: int, eta_s: int | None) -> None:
        """A `queue` frame went out by another path (the router's new-first event)."""
        if conversation_id in self._followed:
            self._followed[conversation_id] = _Told(position, eta_s, self._clock())

    def forget(self, conversation_id: str) -> None:
        self._followed.pop(conversation_id, None)

    async def refresh(self, now: float) -> int:
        """Ask the router for every followed conversation with a visitor here; send the
        changed ones their frame. Returns the number of frames sent."""
        ids = []
        for cid in list(self._followed):
            if any(True for _ in self._visitors_of(cid)):
                ids.append(cid)
            else:
                del self._followed[cid]  # the visitor left this hub
        if not ids:
            return 0
        self.refreshes += 1
        self.asked += len(ids)
        found = await self._router.positions(ids, now)
        at = self._clock()
        sent = 0
        for cid in ids:
            told = self._followed.get(cid)
            if told is None:  # forgotten while we waited for Redis
                continue
            position, eta_s = found.get(cid, (None, None))
            if position is None:
                del self._followed[cid]  # offered, assigned or gone: not waiting
                continue
            if (position, eta_s) == (told.position, told.eta_s):
                continue
            if at - told.at < self._min_interval_s:
                continue  # changed again too soon: the next tick sends it
            frame = {
                "type": "queue",
                "conversation_id": cid,
                "position": position,
                "eta_s": eta_s,
            }
            for client in list(self._visitors_of(cid)):
                self._send(client, frame)
            self._followed[cid] = _Told(position, eta_s, at)
            sent += 1
        self.sent += sent
        return sent
