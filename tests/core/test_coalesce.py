"""The coalescer of typing and read frames (chatserver.core.coalesce), with the end of each interval
fired by the test instead of a clock."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from chatserver.core.coalesce import Coalescer, highest_seq


class Timers:
    """A stand-in for ``loop.call_later``: keeps what is scheduled until the test fires it."""

    def __init__(self) -> None:
        self.due: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    def call_later(self, _delay: float, fn: Callable[..., None], *args: Any) -> None:
        self.due.append((fn, args))

    def fire(self) -> None:
        due, self.due = self.due, []
        for fn, args in due:
            fn(*args)


def test_first_at_once_then_one_per_interval_highest_seq() -> None:
    sent: list[tuple[Hashable, dict[str, Any]]] = []
    timers = Timers()
    c = Coalescer(lambda key, frame: sent.append((key, frame)), call_later=timers.call_later)
    for seq in (3, 5, 4, 9, 7):
        c.offer("a", {"seq": seq}, highest_seq)
    c.offer("b", {"seq": 1}, highest_seq)
    assert sent == [("a", {"seq": 3}), ("b", {"seq": 1})]  # the first of each key, at once
    timers.fire()  # the intervals end
    assert sent[2:] == [("a", {"seq": 9})]  # the rest of a's interval folded: highest seq
    timers.fire()  # a's next interval ends with nothing in it
    assert len(sent) == 3 and len(c) == 0 and timers.due == []  # quiet keys are forgotten
    c.offer("a", {"seq": 10}, highest_seq)
    assert sent[-1] == ("a", {"seq": 10})  # a new interval starts at once


def test_latest_state_wins_by_default() -> None:
    sent: list[dict[str, Any]] = []
    timers = Timers()
    c = Coalescer(lambda _key, frame: sent.append(frame), call_later=timers.call_later)
    for active in (True, False, True, False):
        c.offer("k", {"active": active})
    timers.fire()
    assert sent == [{"active": True}, {"active": False}]
