"""Where every waiting visitor on this hub stands: `queue` frames (docs/protocol.md).

The router no longer rewrites positions on every change (that cost grew with the backlog and
held Redis for everyone). It publishes the new first of a queue at once; everything else is
read here, on this hub's tick, for this hub's own waiting visitors only: one pipelined round
trip of read-only scripts (``Router.positions``, a ZRANK each).

How often: a visitor is asked about, and told if its position or estimate changed, once every
``interval(position)`` — a second near the front (positions up to 20), then a second per 20
places, at most every 10 s (position 200 and beyond). So nobody hears more than once a second,
everybody whose place changes hears within 10 s, and a surge of 10,000 waiting costs about a
thousand reads and frames a second rather than ten thousand.

Followed: conversations whose visitor's socket is here, from their ``queued`` answer (start,
resume) until the router says they are no longer waiting (offered, assigned, closed). An offer
withdrawn or a chat requeued (agent gone, transfer) brings a conversation back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chatserver.core.delivery import Client
from chatserver.core.interfaces import Router
from chatserver.protocol import frames


@dataclass
class _Told:
    position: int | None
    eta_s: int | None
    checked: float  # monotonic seconds of the last look; 0.0 = never looked


def interval(position: int | None) -> float:
    """Seconds between looks at a visitor at ``position``: 1 near the front, up to 10 far back."""
    if position is None:
        return 0.0
    return min(10.0, max(1.0, position / 20))


class QueuePositions:
    def __init__(
        self,
        router: Router,
        visitors_of: Callable[[str], Iterable[Client]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._router = router
        self._visitors_of = visitors_of
        self._clock = clock
        self._followed: dict[str, _Told] = {}

    def follow(
        self, conversation_id: str, position: int | None = None, eta_s: int | None = None
    ) -> None:
        """Follow a conversation; ``position``/``eta_s``: what its visitor was just told."""
        checked = self._clock() if position is not None else 0.0
        self._followed[conversation_id] = _Told(position, eta_s, checked)

    async def refresh(self, now: float) -> int:
        """Ask the router about every followed conversation with a visitor here that is due a
        look (``interval``); send the changed ones their frame. Returns the frames sent."""
        ids = []
        at = self._clock()
        for cid, told in list(self._followed.items()):
            if at - told.checked < interval(told.position):
                continue
            if any(True for _ in self._visitors_of(cid)):
                ids.append(cid)
            else:
                del self._followed[cid]  # the visitor left this hub
        if not ids:
            return 0
        found = await self._router.positions(ids, now)
        at = self._clock()
        sent = 0
        for cid in ids:
            before = self._followed.get(cid)
            if before is None:  # forgotten while we waited for Redis
                continue
            position, eta_s = found.get(cid, (None, None))
            if position is None:
                del self._followed[cid]  # offered, assigned or gone: not waiting
                continue
            self._followed[cid] = _Told(position, eta_s, at)
            if (position, eta_s) == (before.position, before.eta_s):
                continue
            frame = frames.queue(cid, position, eta_s)
            for client in list(self._visitors_of(cid)):
                client.send(frame)
            sent += 1
        return sent
