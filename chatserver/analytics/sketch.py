"""`Durations`: a mergeable summary of durations (count, exact sum, a log-bucketed histogram)
whose percentiles are within 1 % of the exact nearest-rank ones, whatever how many summaries
were merged — what the rollups keep per day, topic and agent (``docs/analytics.md``).

The histogram is the mapping of DDSketch (Masson, Rim & Lee, VLDB 2019) with relative accuracy
α = 1 %: a duration of ``x`` ms (``x ≥ 1``) falls in bucket ``i = ⌈log_γ x⌉`` with
γ = (1 + α) / (1 − α), which holds (γ^(i−1), γ^i]; the bucket answers 2γ^i / (γ + 1), within
α·x of every value it holds. Zero has a bucket of its own (answered exactly); a negative
duration (clocks of two hubs that disagree) the mirror of its magnitude's. The keys are
integers ordered as the values they hold: 0 for zero, ``i + 1`` above it, ``−(i + 1)`` below.
Written out by hand rather than taken from the ``ddsketch`` package: the mapping is these few
lines, and the rollups need the buckets as plain integers they can store as JSON and merge
in the same pass as the other counts, which the package's protobuf form does not give.

The percentile is nearest-rank, as for exact values: the bucket that holds rank
⌈p/100 · n⌉ of the n values in ascending order, so the answer is within 1 % of the value the
exact definition picks. Counts, sums and means stay exact.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ACCURACY", "Durations", "bucket_of", "value_of"]

#: The relative accuracy of every percentile.
ACCURACY = 0.01
_GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
_MIDDLE = 2 / (_GAMMA + 1)


def bucket_of(ms: int) -> int:
    """The key of the bucket that holds a duration of ``ms`` milliseconds."""
    if ms == 0:
        return 0
    index = math.ceil(math.log(abs(ms)) / _LOG_GAMMA) + 1
    return index if ms > 0 else -index


def value_of(key: int) -> float:
    """What a bucket answers, in milliseconds: within `ACCURACY` of every value it holds."""
    if key == 0:
        return 0.0
    value = _MIDDLE * _GAMMA ** (abs(key) - 1)
    return value if key > 0 else -value


class Durations:
    """Durations in milliseconds, added one at a time or merged from another summary."""

    __slots__ = ("buckets", "count", "total_ms")

    def __init__(self) -> None:
        self.count = 0
        self.total_ms = 0
        self.buckets: dict[int, int] = {}

    def add(self, ms: int) -> None:
        self.count += 1
        self.total_ms += ms
        key = bucket_of(ms)
        self.buckets[key] = self.buckets.get(key, 0) + 1

    def merge(self, other: Durations) -> None:
        self.count += other.count
        self.total_ms += other.total_ms
        mine = self.buckets
        for key, n in other.buckets.items():
            mine[key] = mine.get(key, 0) + n

    def percentiles(self, ps: tuple[float, ...]) -> list[float | None]:
        """The nearest-rank percentiles ``ps`` (ascending), in milliseconds."""
        if not self.count:
            return [None] * len(ps)
        ranks = [max(1, math.ceil(p / 100 * self.count)) for p in ps]
        out: list[float | None] = []
        seen = 0
        want = iter(ranks)
        rank = next(want)
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            while seen >= rank:
                out.append(value_of(key))
                following = next(want, None)
                if following is None:
                    return out
                rank = following
        raise AssertionError("the buckets hold fewer values than the count")

    def stats(self) -> dict[str, Any]:
        """``count``, ``mean``, ``p50``, ``p90``, ``p99``, in seconds."""
        p50, p90, p99 = self.percentiles((50, 90, 99))
        return {
            "count": self.count,
            "mean": self.total_ms / self.count / 1000 if self.count else None,
            "p50": _seconds(p50),
            "p90": _seconds(p90),
            "p99": _seconds(p99),
        }

    def dump(self) -> list[int]:
        """A JSON-ready form: ``[count, total_ms, key, n, key, n, …]``."""
        out = [self.count, self.total_ms]
        for key, n in self.buckets.items():
            out += (key, n)
        return out

    @classmethod
    def load(cls, data: list[int]) -> Durations:
        made = cls()
        made.count, made.total_ms = data[0], data[1]
        made.buckets = dict(zip(data[2::2], data[3::2], strict=True))
        return made


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000
