"""TokenBucket on its own: the violation window costs nothing until a frame is refused."""

from __future__ import annotations

import gc
import tracemalloc

from chatserver.protocol._ratelimit import TokenBucket

T = 1_000.0


def bucket(burst: int = 1, max_violations: int = 3, window_s: float = 10.0) -> TokenBucket:
    return TokenBucket(
        rate_per_s=1.0, burst=burst, max_violations=max_violations, window_s=window_s, now=T
    )


def test_well_behaved_buckets_hold_no_violation_window() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        buckets = [bucket(burst=20) for _ in range(1_000)]
        for b in buckets:
            for i in range(10):
                assert b.take(T + i * 0.1) == (True, False)
        per_bucket = (tracemalloc.get_traced_memory()[0] - before) / len(buckets)
    finally:
        tracemalloc.stop()
    assert all(b.violations == 0 for b in buckets)
    assert per_bucket < 200, f"{per_bucket:.0f} bytes per bucket"  # an empty deque alone: ~600


def test_the_window_is_made_by_a_violation_and_dropped_when_it_ages_out() -> None:
    b = bucket()
    assert b.take(T) == (True, False)
    assert b.take(T) == (False, False)
    assert b.violations == 1
    assert b.take(T + 5) == (True, False)  # still within the window: kept
    assert b.violations == 1
    assert b.take(T + 10) == (True, False)  # T is 10 s old: out of the window
    assert b.violations == 0


def test_a_forgotten_window_counts_from_scratch() -> None:
    b = bucket(max_violations=2)
    b.take(T)
    assert b.take(T) == (False, False)
    assert b.take(T + 11) == (True, False)  # drops the window
    assert b.take(T + 11) == (False, False)  # one violation in the window, not two
    assert b.take(T + 11) == (False, True)  # the second within 10 s: exceeded


def test_violations_spread_over_allowed_frames_still_add_up() -> None:
    b = bucket(max_violations=3)
    results = []
    for t in (T, T, T + 1, T + 1, T + 2, T + 2):  # allowed, refused, allowed, refused, ...
        results.append(b.take(t))
    assert results == [
        (True, False),
        (False, False),
        (True, False),
        (False, False),
        (True, False),
        (False, True),
    ]


def test_a_zero_window_never_closes() -> None:
    b = bucket(max_violations=1, window_s=0.0)
    assert b.take(T) == (True, False)
    assert b.take(T) == (False, False)  # the violation leaves a zero-length window at once
    assert b.violations == 0
    assert b.take(T + 1) == (True, False)


def test_a_clock_going_backwards_keeps_the_window() -> None:
    b = bucket(burst=2, max_violations=2)
    b.take(T)
    b.take(T)
    assert b.take(T) == (False, False)
    assert b.take(T - 100) == (False, True)  # nothing refilled, nothing aged out
