"""A rate per client address: how many new visitor tokens one address may be given.

A token bucket per address (``per_minute`` tokens, refilled evenly over a minute), the
addresses kept in least-recently-seen order and the oldest forgotten past ``max_addresses``,
so neither the buckets nor a flood of spoofed-looking addresses grow without bound.
"""

from __future__ import annotations

from collections import OrderedDict


class PerAddressRate:
    def __init__(self, per_minute: int, max_addresses: int = 10_000) -> None:
        self.per_minute = per_minute
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def allow(self, address: str, now: float) -> bool:
        tokens, at = self._buckets.pop(address, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + max(0.0, now - at) * self.per_minute / 60)
        allowed = tokens >= 1.0
        self._buckets[address] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
        return allowed


__all__ = ["PerAddressRate"]
