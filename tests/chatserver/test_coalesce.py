"""The coalescer of typing and read frames (chatserver.coalesce), on the event loop's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

from chatserver.coalesce import Coalescer, highest_seq


async def test_first_at_once_then_one_per_interval_highest_seq() -> None:
    sent: list[tuple[Hashable, dict[str, Any]]] = []
    c = Coalescer(lambda key, frame: sent.append((key, frame)), interval_s=0.05)
    for seq in (3, 5, 4, 9, 7):
        c.offer("a", {"seq": seq}, highest_seq)
    c.offer("b", {"seq": 1}, highest_seq)
    assert sent == [("a", {"seq": 3}), ("b", {"seq": 1})]  # the first of each key, at once
    await asyncio.sleep(0.07)
    assert sent[2:] == [("a", {"seq": 9})]  # the rest of a's interval folded: highest seq
    await asyncio.sleep(0.07)
    assert len(sent) == 3 and len(c) == 0  # quiet keys are forgotten
    c.offer("a", {"seq": 10}, highest_seq)
    assert sent[-1] == ("a", {"seq": 10})  # a new interval starts at once


async def test_latest_state_wins_by_default() -> None:
    sent: list[dict[str, Any]] = []
    c = Coalescer(lambda _key, frame: sent.append(frame), interval_s=0.05)
    for active in (True, False, True, False):
        c.offer("k", {"active": active})
    await asyncio.sleep(0.07)
    assert sent == [{"active": True}, {"active": False}]
