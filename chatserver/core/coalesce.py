"""Frames that cost the hub without being stored — `typing` and `read` — relayed at most once per
interval per conversation and side, so no client can flood the other side with them.

Before, every `read` a visitor sent was relayed: 200,000 of them in 27 s filled the agent's
send queue and closed the console (1013). Now the first frame of a kind is relayed at once
(typing feels live), later ones within `INTERVAL_S` are folded into one that goes out when the
interval ends: the highest `seq` for `read`, the latest state for `typing`. A conversation and
side with nothing more to say is forgotten one interval after its last frame. The frames also
take a token from the connection's rate limit (`chatserver.protocol`), so a flood is refused
before it gets here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

#: At most one relayed frame per conversation, side and kind in this many seconds.
INTERVAL_S = 0.25

Frame = dict[str, Any]


def latest(_old: Frame, new: Frame) -> Frame:
    return new


def highest_seq(old: Frame, new: Frame) -> Frame:
    return new if int(new.get("seq", 0)) >= int(old.get("seq", 0)) else old


class Coalescer:
    """Sends through ``send(key, frame)`` at most once per ``interval_s`` per key."""

    def __init__(
        self,
        send: Callable[[Hashable, Frame], None],
        interval_s: float = INTERVAL_S,
        *,
        call_later: Callable[..., object] | None = None,
    ) -> None:
        """``call_later(delay, fn, *args)`` schedules the end of an interval: the running
        loop's by default (a test passes its own and fires what it scheduled)."""
        self._send = send
        self.interval_s = interval_s
        self._call_later = call_later
        # key -> the frame folded in this interval (None: nothing since the last send)
        self._open: dict[Hashable, Frame | None] = {}

    def offer(
        self, key: Hashable, frame: Frame, merge: Callable[[Frame, Frame], Frame] = latest
    ) -> None:
        if key not in self._open:
            self._send(key, frame)
            self._open[key] = None
            self._schedule(key)
            return
        waiting = self._open[key]
        self._open[key] = frame if waiting is None else merge(waiting, frame)

    def _end_interval(self, key: Hashable) -> None:
        waiting = self._open.pop(key, None)
        if waiting is not None:
            self._send(key, waiting)
            self._open[key] = None
            self._schedule(key)

    def _schedule(self, key: Hashable) -> None:
        call_later = self._call_later or asyncio.get_running_loop().call_later
        call_later(self.interval_s, self._end_interval, key)

    def __len__(self) -> int:
        return len(self._open)


__all__ = ["INTERVAL_S", "Coalescer", "highest_seq", "latest"]
