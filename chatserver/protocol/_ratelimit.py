"""A token bucket with a sliding window of violations; time is an argument, never read.

Every connection has one, and almost every connection never breaks the limit: the window of
violation times is therefore made by the first violation and dropped once every violation in
it has aged out, so a well-behaved (or idle) connection pays for the bucket's floats and no
more (an empty ``deque`` alone is ~600 bytes, a third of what the hub keeps per idle socket).
"""

from __future__ import annotations

from collections import deque

_EPSILON = 1e-9


class TokenBucket:
    """``burst`` tokens, refilled at ``rate_per_s``; each allowed frame takes one.

    A refused frame is a *violation*; :meth:`take` reports whether ``max_violations`` of them
    fell within the last ``window_s`` seconds, which is when the connection should be closed.
    A clock that goes backwards refills nothing.
    """

    __slots__ = ("_last", "_tokens", "_violations", "burst", "max_violations", "rate", "window_s")

    def __init__(
        self, rate_per_s: float, burst: int, max_violations: int, window_s: float, now: float
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.max_violations = max_violations
        self.window_s = window_s
        self._tokens = float(burst)
        self._last = now
        # Times of the violations that may still count, oldest first; None while there are none.
        self._violations: deque[float] | None = None

    @property
    def tokens(self) -> float:
        """Tokens left as of the last call (for tests and metrics)."""
        return self._tokens

    @property
    def violations(self) -> int:
        """Violations kept for the window as of the last call (some may have aged out since)."""
        return 0 if self._violations is None else len(self._violations)

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now

    def take(self, now: float) -> tuple[bool, bool]:
        """Take a token: ``(allowed, exceeded)``; ``exceeded`` means close with 4429."""
        self._refill(now)
        violations = self._violations
        if self._tokens >= 1.0 - _EPSILON:  # 100.1 - 100.0 is 0.0999…: count it as 0.1 s
            self._tokens = max(0.0, self._tokens - 1.0)
            if violations is not None and (not violations or violations[-1] <= now - self.window_s):
                self._violations = None  # the newest has left the window, so have all the others
            return True, False
        if violations is None:
            violations = self._violations = deque()
        violations.append(now)
        while violations and violations[0] <= now - self.window_s:
            violations.popleft()
        return False, len(violations) >= self.max_violations
